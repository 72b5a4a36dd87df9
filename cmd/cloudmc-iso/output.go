package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/cloudmc-go/cloudmc"
)

// The JSON documents printed with -o json. Their field names are part of the
// command's interface: ISOs use the API's wire names.

// ISOs and list metadata print as cloudmc.Iso and cloudmc.Metadata, whose
// JSON is the API's wire form.

type listJSON struct {
	Data     []cloudmc.Iso    `json:"data"`
	Metadata cloudmc.Metadata `json:"metadata"`
}

type errorJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type taskJSON struct {
	ID      string          `json:"id"`
	Status  string          `json:"status"`
	Created string          `json:"created"`
	Result  json.RawMessage `json:"result"`
	Errors  []errorJSON     `json:"errors,omitempty"`
}

type downloadDoc struct {
	IsoID  string `json:"isoId"`
	URL    string `json:"url"`
	TaskID string `json:"taskId"`
}

// isoDoc prints an absent zone list as [], so scripts can iterate it.
func isoDoc(i cloudmc.Iso) cloudmc.Iso {
	if i.AvailableInZones == nil {
		i.AvailableInZones = []string{}
	}
	return i
}

func listDoc(l *cloudmc.ListResponse[cloudmc.Iso]) listJSON {
	doc := listJSON{Data: make([]cloudmc.Iso, 0, len(l.Data)), Metadata: l.Metadata}
	for _, i := range l.Data {
		doc.Data = append(doc.Data, isoDoc(i))
	}
	return doc
}

func taskDoc(t *cloudmc.Task) taskJSON {
	doc := taskJSON{ID: t.ID, Status: string(t.Status), Created: t.Created}
	if len(bytes.TrimSpace(t.Result)) > 0 && json.Valid(t.Result) {
		doc.Result = t.Result
	}
	for _, e := range t.Errors {
		doc.Errors = append(doc.Errors, errorJSON{Code: e.Code, Message: e.Message})
	}
	return doc
}

// printJSON prints one indented JSON document.
func (a *app) printJSON(v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep & < > in URLs readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := a.stdout.Write(buf.Bytes())
	return err
}

func (a *app) printf(format string, args ...any) error {
	_, err := fmt.Fprintf(a.stdout, format, args...)
	return err
}

func (a *app) printIsoTable(isos []cloudmc.Iso) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSIZE\tREADY\tBOOTABLE\tEXTRACTABLE\tZONE\tCREATED")
	for _, i := range isos {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cell(i.ID), cell(i.Name), humanSize(i.Size),
			yesNo(i.Ready), yesNo(i.Bootable), yesNo(i.Extractable), cell(zone(i)), cell(i.Created))
	}
	return tw.Flush()
}

func (a *app) printIsoDetails(i cloudmc.Iso) error {
	arch := "-"
	if i.ArchitectureWidth != 0 {
		arch = strconv.Itoa(i.ArchitectureWidth) + "-bit"
	}
	zones := "-"
	if len(i.AvailableInZones) > 0 {
		zones = strings.Join(i.AvailableInZones, ", ")
	}
	return a.printPairs([][2]string{
		{"ID", i.ID},
		{"Name", i.Name},
		{"Description", i.Description},
		{"Size", fmt.Sprintf("%s (%d bytes)", humanSize(i.Size), i.Size)},
		{"Ready", yesNo(i.Ready)},
		{"Bootable", yesNo(i.Bootable)},
		{"Extractable", yesNo(i.Extractable)},
		{"Public", yesNo(i.AvailablePublicly)},
		{"Architecture", arch},
		{"OS type", nameAndID(i.OSTypeName, i.OSTypeID)},
		{"Zone", nameAndID(i.ZoneName, i.ZoneID)},
		{"Available in zones", zones},
		{"Created", i.Created},
	})
}

func (a *app) printTask(t *cloudmc.Task) error {
	if a.g.output == "json" {
		return a.printJSON(taskDoc(t))
	}
	return a.printTaskDetails(t)
}

func (a *app) printTaskDetails(t *cloudmc.Task) error {
	pairs := [][2]string{
		{"ID", t.ID},
		{"Status", string(t.Status)},
		{"Created", t.Created},
		{"Result", compactResult(t.Result)},
	}
	for _, e := range t.Errors {
		pairs = append(pairs, [2]string{"Error", e.String()})
	}
	return a.printPairs(pairs)
}

func (a *app) printPairs(pairs [][2]string) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	for _, p := range pairs {
		v := p[1]
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(tw, "%s:\t%s\n", p[0], cell(v))
	}
	return tw.Flush()
}

func compactResult(raw json.RawMessage) string {
	var buf bytes.Buffer
	if len(bytes.TrimSpace(raw)) == 0 || json.Compact(&buf, raw) != nil {
		return "-"
	}
	return buf.String()
}

func zone(i cloudmc.Iso) string {
	switch {
	case i.ZoneName != "":
		return i.ZoneName
	case i.ZoneID != "":
		return i.ZoneID
	case len(i.AvailableInZones) > 1:
		return fmt.Sprintf("(%d zones)", len(i.AvailableInZones))
	}
	return "-"
}

func nameAndID(name, id string) string {
	switch {
	case name != "" && id != "":
		return name + " (" + id + ")"
	case name != "":
		return name
	}
	return id
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// cell keeps server-supplied text from breaking the table or the terminal:
// control characters (tabs, newlines, escape sequences) become '?'.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return '?'
		}
		return r
	}, s)
}

// humanSize formats bytes in binary units: 52428800 is "50 MiB".
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + string("KMGTPE"[exp]) + "iB"
}
