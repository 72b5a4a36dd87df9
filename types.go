package cloudmc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Iso is an ISO image of an environment. Its JSON form is the wire form, so
// json.Marshal and json.Unmarshal round-trip it; Unmarshal accepts every quirk
// listed in the package documentation.
type Iso struct {
	ID                string   `json:"id"`
	Name              string   `json:"name"`
	Description       string   `json:"description"`
	ArchitectureWidth int      `json:"architectureWidth"`
	Size              int64    `json:"size"` // bytes
	Ready             bool     `json:"ready"`
	Bootable          bool     `json:"bootable"`
	AvailablePublicly bool     `json:"availablePublicly"`
	Extractable       bool     `json:"extractable"`
	OSTypeID          string   `json:"osTypeId"`
	OSTypeName        string   `json:"osTypeName"`
	ZoneID            string   `json:"zoneId"`   // empty when in several zones
	ZoneName          string   `json:"zoneName"` // empty when in several zones
	Created           string   `json:"created"`  // as the server sent it; see CreatedTime
	AvailableInZones  []string `json:"availableInZones"`
}

// isoWire is Iso with tolerant field types. It has no UnmarshalJSON of its
// own, so lists decode in one pass without re-scanning every element.
type isoWire struct {
	ID                string    `json:"id"`
	Name              string    `json:"name"`
	Description       string    `json:"description"`
	ArchitectureWidth flexInt   `json:"architectureWidth"`
	Size              flexInt64 `json:"size"`
	Ready             bool      `json:"ready"`
	Bootable          bool      `json:"bootable"`
	AvailablePublicly bool      `json:"availablePublicly"`
	Extractable       bool      `json:"extractable"`
	OSTypeID          string    `json:"osTypeId"`
	OSTypeName        string    `json:"osTypeName"`
	ZoneID            string    `json:"zoneId"`
	ZoneName          string    `json:"zoneName"`
	Created           string    `json:"created"`
	AvailableInZones  []string  `json:"availableInZones"`
}

func (w *isoWire) iso() Iso {
	return Iso{
		ID:                w.ID,
		Name:              w.Name,
		Description:       w.Description,
		ArchitectureWidth: int(w.ArchitectureWidth),
		Size:              int64(w.Size),
		Ready:             w.Ready,
		Bootable:          w.Bootable,
		AvailablePublicly: w.AvailablePublicly,
		Extractable:       w.Extractable,
		OSTypeID:          w.OSTypeID,
		OSTypeName:        w.OSTypeName,
		ZoneID:            w.ZoneID,
		ZoneName:          w.ZoneName,
		Created:           w.Created,
		AvailableInZones:  w.AvailableInZones,
	}
}

// UnmarshalJSON decodes the wire form, tolerating numbers sent as strings.
func (i *Iso) UnmarshalJSON(b []byte) error {
	var w isoWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*i = w.iso()
	return nil
}

// flexInt64 accepts a JSON number (any size up to int64, exactly), a numeric
// string, or null.
type flexInt64 int64

func (f *flexInt64) UnmarshalJSON(b []byte) error {
	n, err := parseFlexInt(b, 64)
	*f = flexInt64(n)
	return err
}

// flexInt is flexInt64 for int-sized values.
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	n, err := parseFlexInt(b, strconv.IntSize)
	*f = flexInt(n)
	return err
}

func parseFlexInt(b []byte, bits int) (int64, error) {
	if len(b) == 0 {
		return 0, errors.New("empty number")
	}
	if b[0] == 'n' && string(b) == "null" {
		return 0, nil
	}
	s := b
	if b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return 0, err
		}
		str = strings.TrimSpace(str)
		if str == "" {
			return 0, nil
		}
		s = []byte(str)
	}
	if n, err := strconv.ParseInt(string(s), 10, bits); err == nil {
		return n, nil
	}
	// Forms such as 5.24288e7 or 64.0: accept only whole numbers in range.
	f, err := strconv.ParseFloat(string(s), 64)
	if err != nil || f != math.Trunc(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("not a whole number: %s", sample(b))
	}
	limit := math.Ldexp(1, bits-1)
	if f >= limit || f < -limit {
		return 0, fmt.Errorf("number out of range: %s", sample(b))
	}
	return int64(f), nil
}

// createdLayouts are the forms of "created" seen on the wire, zone excluded.
var createdLayouts = []string{
	"2006-01-02 3:04:05 PM",
	"2006-01-02 03:04:05 PM",
	"2006-01-02 15:04:05",
}

// zoneOffsets maps the zone abbreviations CloudMC deployments print to their
// offsets; time.Parse would silently read unknown ones as UTC.
var zoneOffsets = map[string]int{
	"Z": 0, "UTC": 0, "GMT": 0,
	"EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6,
	"PST": -8, "PDT": -7, "AKST": -9, "AKDT": -8, "HST": -10,
	"AST": -4, "ADT": -3, "WET": 0, "WEST": 1, "CET": 1, "CEST": 2,
	"EET": 2, "EEST": 3,
}

// CreatedTime parses Created. It accepts RFC 3339 and the CloudMC forms
// "2017-12-21 4:41:33 PM Z" and "2016-10-24 2:40:29 PM EDT" (a zone
// abbreviation, or a numeric offset such as -0400).
func (i Iso) CreatedTime() (time.Time, error) {
	return parseCreated(i.Created)
}

func parseCreated(s string) (time.Time, error) {
	// Upper case: Go reads only "PM" and "T"/"Z", servers also send "pm", "z".
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "" {
		return time.Time{}, errors.New("cloudmc: created time is empty")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if sp := strings.LastIndexByte(s, ' '); sp > 0 {
		clock, zone := s[:sp], s[sp+1:]
		if loc := zoneLocation(zone); loc != nil {
			for _, layout := range createdLayouts {
				if t, err := time.ParseInLocation(layout, clock, loc); err == nil {
					return t, nil
				}
			}
		}
	}
	return time.Time{}, fmt.Errorf("cloudmc: unrecognised created time %s", sample([]byte(s)))
}

func zoneLocation(zone string) *time.Location {
	if h, ok := zoneOffsets[strings.ToUpper(zone)]; ok {
		if h == 0 {
			return time.UTC
		}
		return time.FixedZone(strings.ToUpper(zone), h*3600)
	}
	for _, layout := range []string{"-0700", "-07:00", "-07"} {
		if t, err := time.Parse(layout, zone); err == nil {
			_, off := t.Zone()
			return time.FixedZone(zone, off)
		}
	}
	return nil
}

// Metadata is the "metadata" of a list answer. The paging fields are zero when
// the server leaves them out.
type Metadata struct {
	// RecordCount is the count the server reported; when the server sends
	// none, the number of items decoded. len(Data) is authoritative for what
	// this page holds.
	RecordCount int    `json:"recordCount"`
	PageSize    int    `json:"pageSize,omitempty"`
	PageCurrent int    `json:"pageCurrent,omitempty"`
	SortField   string `json:"sortField,omitempty"`
	SortOrder   string `json:"sortOrder,omitempty"`
}

type metadataWire struct {
	RecordCount flexInt `json:"recordCount"`
	PageSize    flexInt `json:"pageSize"`
	PageCurrent flexInt `json:"pageCurrent"`
	SortField   string  `json:"sortField"`
	SortOrder   string  `json:"sortOrder"`
}

// ListResponse is a decoded list envelope.
type ListResponse[T any] struct {
	Data     []T
	Metadata Metadata
}

// Response is a decoded single-object envelope.
type Response[T any] struct {
	Data T
}

// ListOptions selects a page and an order. Zero values are left out of the
// query.
type ListOptions struct {
	Page      int    // page_number, from 1
	PageSize  int    // page_size
	SortBy    string // sort_by: a field name such as "name"
	SortOrder string // sort_order: "ASC" or "DESC" (any case)
}

// ImportIsoRequest describes an ISO to import from a URL.
type ImportIsoRequest struct {
	Name        string // required
	Description string
	URL         string // required; http or https
	ZoneID      string // required unless the environment has one zone
	OSTypeID    string // required with Bootable
	Bootable    *bool
	Extractable *bool // sent only when set
}

type importIsoWire struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	URL         string `json:"url"`
	ZoneID      string `json:"zoneId,omitempty"`
	Bootable    bool   `json:"bootable"`
	OSTypeID    string `json:"osTypeId,omitempty"`
	Extractable *bool  `json:"extractable,omitempty"`
}

// Bool returns a pointer to v, for the optional fields of requests.
func Bool(v bool) *bool { return &v }

// hasValue reports whether raw holds a value other than null.
func hasValue(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && string(raw) != "null"
}
