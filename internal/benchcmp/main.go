// Command benchcmp renders the output of the root package's benchmarks
// (go test -bench, any number of rounds concatenated) as the one table of
// issue 4: each figure, the SDK, the baseline, the ratio, the target and
// whether it holds. Each figure is the median over the rounds.
//
//	go run ./internal/benchcmp < bench.out
//
// scripts/bench runs the benchmarks and calls it.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// results maps a benchmark name (without the -GOMAXPROCS suffix) and a unit
// to the values seen, one per round.
type results map[string]map[string][]float64

var procSuffix = regexp.MustCompile(`-\d+$`)

func parse(r io.Reader) (results, error) {
	res := results{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := procSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue // not a result line
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			if res[name] == nil {
				res[name] = map[string][]float64{}
			}
			res[name][f[i+1]] = append(res[name][f[i+1]], v)
		}
	}
	return res, sc.Err()
}

func median(vs []float64) float64 {
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func (r results) get(name, unit string) (float64, int, bool) {
	vs := r[name][unit]
	if len(vs) == 0 {
		return 0, 0, false
	}
	return median(vs), len(vs), true
}

// pairedRatio is the median of the per-round ratios: the SDK and the
// baseline of one round ran back to back, so on a shared machine a pair
// sees the same load where the medians of each side need not.
func pairedRatio(sdk, base []float64, throughput bool) float64 {
	var rs []float64
	for i := 0; i < len(sdk) && i < len(base); i++ {
		s, b := sdk[i], base[i]
		switch {
		case throughput && s > 0:
			rs = append(rs, b/s)
		case !throughput && b > 0:
			rs = append(rs, s/b)
		}
	}
	if len(rs) == 0 {
		return math.NaN()
	}
	return median(rs)
}

// A check says what the target is and whether it holds.
type check struct {
	text string
	// ok gets the SDK figure, the baseline's and their ratio (sdk/base, or
	// base/sdk for throughput).
	ok func(sdk, base, ratio float64) bool
}

var (
	info        = check{}
	ratioAtMost = func(x float64) check {
		return check{fmt.Sprintf("≤ %.2fx", x), func(_, _, r float64) bool { return r <= x }}
	}
	throughputAtLeast = func(x float64) check {
		return check{fmt.Sprintf("≥ %.2fx", x), func(_, _, r float64) bool { return r >= x }}
	}
	plusAtMost = func(n float64) check {
		return check{fmt.Sprintf("≤ baseline + %g", n), func(s, b, _ float64) bool { return s <= b+n }}
	}
	sdkAtMost = func(v float64, unit string) check {
		return check{fmt.Sprintf("≤ %g%s", v, unit), func(s, _, _ float64) bool { return s <= v }}
	}
)

// row is one line of the table.
type row struct {
	figure     string
	sdk, base  string // benchmark names
	unit       string
	throughput bool // ratio is base/sdk: higher is better
	check      check
}

func rows() []row {
	var rs []row
	for _, n := range []string{"1", "100", "10000"} {
		sdk, base := "List/n="+n+"/sdk", "List/n="+n+"/baseline"
		label := "List " + n + " ISO"
		if n != "1" {
			label += "s"
		}
		rs = append(rs,
			row{label + ": time", sdk, base, "ns/op", false, ratioAtMost(1.10)},
			row{label + ": time vs baseline with the same 60 s timeout", sdk, strings.TrimSuffix(base, "baseline") + "baseline-timeout", "ns/op", false, ratioAtMost(1.10)},
			row{label + ": allocs", sdk, base, "allocs/op", false, plusAtMost(10)},
			row{label + ": allocs vs baseline with the same 60 s timeout", sdk, strings.TrimSuffix(base, "baseline") + "baseline-timeout", "allocs/op", false, plusAtMost(10)},
			row{label + ": bytes", sdk, base, "B/op", false, info},
		)
	}
	rs = append(rs,
		row{"Get: time", "Get/sdk", "Get/baseline", "ns/op", false, ratioAtMost(1.10)},
		row{"Get: time vs baseline with the same 60 s timeout", "Get/sdk", "Get/baseline-timeout", "ns/op", false, ratioAtMost(1.10)},
		row{"Get: allocs", "Get/sdk", "Get/baseline", "allocs/op", false, plusAtMost(10)},
		row{"Get: allocs vs baseline with the same 60 s timeout", "Get/sdk", "Get/baseline-timeout", "allocs/op", false, plusAtMost(10)},
		row{"Get: bytes", "Get/sdk", "Get/baseline", "B/op", false, info},
		row{"Get ×64 goroutines: throughput vs &http.Client{}", "GetParallel/sdk", "GetParallel/baseline", "ns/op", true, throughputAtLeast(0.90)},
		row{"Get ×64 goroutines: throughput vs MaxIdleConnsPerHost=64", "GetParallel/sdk", "GetParallel/baseline-tuned", "ns/op", true, throughputAtLeast(0.90)},
		row{"Get ×64 goroutines: TCP connections opened (vs &http.Client{})", "GetParallel/sdk", "GetParallel/baseline", "conns", false, sdkAtMost(64, "")},
		row{"Get ×64 goroutines: TCP connections opened (vs tuned)", "GetParallel/sdk", "GetParallel/baseline-tuned", "conns", false, sdkAtMost(64, "")},
		row{"Get ×64 goroutines: allocs", "GetParallel/sdk", "GetParallel/baseline", "allocs/op", false, info},
		row{"Decode 10,000 ISOs (no HTTP): time", "Decode/n=10000/sdk", "Decode/n=10000/baseline", "ns/op", false, ratioAtMost(1.5)},
		row{"Decode 10,000 ISOs (no HTTP): allocs", "Decode/n=10000/sdk", "Decode/n=10000/baseline", "allocs/op", false, info},
		row{"Decode 10,000 ISOs (no HTTP): bytes", "Decode/n=10000/sdk", "Decode/n=10000/baseline", "B/op", false, info},
		row{"List 100,000 ISOs: peak heap", "ListMemory/n=100000/sdk", "ListMemory/n=100000/baseline", "peak-heap-MB", false, ratioAtMost(1.2)},
	)
	for _, w := range []struct {
		task    string
		noticed check
		polls   check
	}{
		{"0.2", sdkAtMost(0.35, " s"), info},
		{"2", info, info},
		{"30", info, sdkAtMost(15, " polls")},
	} {
		for _, kind := range []struct{ name, label string }{{"WaitSchedule", "fake clock"}, {"WaitScaled", "real Wait, time/20"}} {
			sdk, base := kind.name+"/task="+w.task+"s/sdk", kind.name+"/task="+w.task+"s/baseline"
			label := "Task of " + w.task + " s (" + kind.label + ") vs 1 s poller: "
			rs = append(rs,
				row{label + "noticed after", sdk, base, "noticed-s", false, w.noticed},
				row{label + "polls", sdk, base, "polls", false, w.polls},
			)
		}
	}
	return rs
}

func format(v float64, unit string) string {
	switch unit {
	case "ns/op":
		switch {
		case v >= 1e9:
			return fmt.Sprintf("%.2f s", v/1e9)
		case v >= 1e6:
			return fmt.Sprintf("%.2f ms", v/1e6)
		case v >= 1e3:
			return fmt.Sprintf("%.1f µs", v/1e3)
		}
		return fmt.Sprintf("%.0f ns", v)
	case "B/op":
		switch {
		case v >= 1<<20:
			return fmt.Sprintf("%.1f MiB", v/(1<<20))
		case v >= 1<<10:
			return fmt.Sprintf("%.1f KiB", v/(1<<10))
		}
		return fmt.Sprintf("%.0f B", v)
	case "allocs/op":
		return strconv.FormatFloat(v, 'f', 0, 64)
	case "conns":
		return strconv.FormatFloat(v, 'f', 0, 64)
	case "peak-heap-MB":
		return fmt.Sprintf("%.1f MiB", v)
	case "noticed-s":
		return fmt.Sprintf("%.2f s", v)
	case "polls":
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func main() {
	markdown := flag.Bool("md", false, "print a Markdown table")
	flag.Parse()
	res, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcmp:", err)
		os.Exit(1)
	}
	if len(res) == 0 {
		fmt.Fprintln(os.Stderr, "benchcmp: no benchmark results on stdin")
		os.Exit(1)
	}
	header := []string{"Figure", "SDK", "Baseline", "Ratio", "Target", "Holds"}
	var table [][]string
	held, failed, missing := 0, 0, 0
	rounds := 0
	for _, r := range rows() {
		s, n, okS := res.get(r.sdk, r.unit)
		b, _, okB := res.get(r.base, r.unit)
		if !okS || !okB {
			table = append(table, []string{r.figure, "—", "—", "—", r.check.text, "not run"})
			missing++
			continue
		}
		rounds = max(rounds, n)
		ratio := pairedRatio(res[r.sdk][r.unit], res[r.base][r.unit], r.throughput)
		ratioText := "—"
		if !math.IsNaN(ratio) && !math.IsInf(ratio, 0) {
			ratioText = fmt.Sprintf("%.2fx", ratio)
		}
		if r.throughput {
			ratioText += " thr."
		}
		holds, target := "—", "—"
		if r.check.ok != nil {
			target = r.check.text
			if r.check.ok(s, b, ratio) {
				holds = "yes"
				held++
			} else {
				holds = "NO"
				failed++
			}
		}
		table = append(table, []string{r.figure, format(s, r.unit), format(b, r.unit), ratioText, target, holds})
	}
	if *markdown {
		fmt.Println("| " + strings.Join(header, " | ") + " |")
		fmt.Println("|" + strings.Repeat("---|", len(header)))
		for _, t := range table {
			fmt.Println("| " + strings.Join(t, " | ") + " |")
		}
	} else {
		width := make([]int, len(header))
		for _, t := range append([][]string{header}, table...) {
			for i, c := range t {
				width[i] = max(width[i], len([]rune(c)))
			}
		}
		line := func(t []string) {
			var sb strings.Builder
			for i, c := range t {
				sb.WriteString(c)
				if i < len(t)-1 {
					sb.WriteString(strings.Repeat(" ", width[i]-len([]rune(c))+2))
				}
			}
			fmt.Println(sb.String())
		}
		line(header)
		for _, t := range table {
			line(t)
		}
	}
	fmt.Printf("\nSDK and baseline: medians over %d round(s); ratio: median of the per-round ratios. Targets: %d hold, %d do not", rounds, held, failed)
	if missing > 0 {
		fmt.Printf(", %d figures not run", missing)
	}
	fmt.Println(".")
}
