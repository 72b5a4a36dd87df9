package cloudmc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// IsoService holds the ISO calls of one environment. Get one from
// Client.Isos.
//
// Its operations (Attach, GenerateDownloadURL, Import, Delete) return the
// task the server started; wait for it with TaskService.Wait. An answer that
// is already finished comes back as a done task, or, when it FAILED, as a
// *TaskError (matching ErrTaskFailed) with no task returned.
type IsoService struct {
	c   *Client
	env env
}

// checkUUID accepts only the canonical 36-character form, which is what
// servers send and what stays one clean path segment.
func checkUUID(what, id string) error {
	if len(id) != 36 {
		return invalidArg("%s %s is not a UUID", what, sample([]byte(id)))
	}
	if _, err := uuid.Parse(id); err != nil {
		return invalidArg("%s %s is not a UUID", what, sample([]byte(id)))
	}
	return nil
}

func (s *IsoService) segs(more ...string) []string {
	// Sized once: a literal then append would allocate twice.
	out := make([]string, 0, 4+len(more))
	return append(append(out, "services", s.env.service, s.env.name, "isos"), more...)
}

// List returns the ISOs of the environment. opts may be nil.
func (s *IsoService) List(ctx context.Context, opts *ListOptions) (*ListResponse[Iso], error) {
	if s.env.err != nil {
		return nil, s.env.err
	}
	q, err := opts.query()
	if err != nil {
		return nil, err
	}
	out := &ListResponse[Iso]{Data: []Iso{}}
	err = s.c.do(ctx, &request{method: http.MethodGet, segs: s.segs(), query: q},
		func(_ *http.Response, body io.Reader) error {
			out.Data = out.Data[:0]
			var env envelope
			if err := decodeEnvelope(body, &env, listInto(&out.Data, isoFromWire)); err != nil {
				return err
			}
			if err := env.failIfErrors(); err != nil {
				return err
			}
			if env.empty {
				return errors.New("empty body")
			}
			if !env.sawData {
				return errNoData
			}
			out.Metadata = Metadata{
				RecordCount: int(env.meta.RecordCount),
				PageSize:    int(env.meta.PageSize),
				PageCurrent: int(env.meta.PageCurrent),
				SortField:   env.meta.SortField,
				SortOrder:   env.meta.SortOrder,
			}
			if !env.sawMeta {
				out.Metadata.RecordCount = len(out.Data)
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func isoFromWire(w *isoWire) (Iso, error) {
	if w.ID == "" {
		return Iso{}, errors.New("ISO has no id")
	}
	return w.iso(), nil
}

func (o *ListOptions) query() (url.Values, error) {
	if o == nil {
		return nil, nil
	}
	q := url.Values{}
	if o.Page < 0 || o.PageSize < 0 {
		return nil, invalidArg("ListOptions: Page and PageSize must not be negative")
	}
	if o.Page > 0 {
		q.Set("page_number", strconv.Itoa(o.Page))
	}
	if o.PageSize > 0 {
		q.Set("page_size", strconv.Itoa(o.PageSize))
	}
	if o.SortBy != "" {
		if !printable(o.SortBy) || len(o.SortBy) > 128 {
			return nil, invalidArg("ListOptions.SortBy %s is not a field name", sample([]byte(o.SortBy)))
		}
		q.Set("sort_by", o.SortBy)
	}
	if o.SortOrder != "" {
		order := strings.ToUpper(strings.TrimSpace(o.SortOrder))
		if order != "ASC" && order != "DESC" {
			return nil, invalidArg("ListOptions.SortOrder %s is not ASC or DESC", sample([]byte(o.SortOrder)))
		}
		q.Set("sort_order", order)
	}
	return q, nil
}

// Get returns one ISO. An unknown id gives an error matching ErrNotFound.
func (s *IsoService) Get(ctx context.Context, id string) (*Response[Iso], error) {
	if s.env.err != nil {
		return nil, s.env.err
	}
	if err := checkUUID("ISO id", id); err != nil {
		return nil, err
	}
	var w isoWire
	err := s.c.do(ctx, &request{method: http.MethodGet, segs: s.segs(id)},
		func(_ *http.Response, body io.Reader) error {
			w = isoWire{}
			return decodeObject(body, objectInto(&w))
		})
	if err != nil {
		return nil, err
	}
	return &Response[Iso]{Data: w.iso()}, nil
}

// Attach attaches a non-bootable ISO to an instance, from the ISO's side.
func (s *IsoService) Attach(ctx context.Context, id, instanceID string) (*Task, error) {
	if s.env.err != nil {
		return nil, s.env.err
	}
	if err := checkUUID("ISO id", id); err != nil {
		return nil, err
	}
	if err := checkUUID("instance id", instanceID); err != nil {
		return nil, err
	}
	return s.c.operation(ctx, &request{method: http.MethodPost, segs: s.segs(id),
		query: url.Values{"operation": {"attach"}},
		body:  map[string]string{"instanceId": instanceID}})
}

// GenerateDownloadURL starts a task whose result holds a download URL
// (result.url). The ISO must be extractable. See DownloadURL.
func (s *IsoService) GenerateDownloadURL(ctx context.Context, id string) (*Task, error) {
	if s.env.err != nil {
		return nil, s.env.err
	}
	if err := checkUUID("ISO id", id); err != nil {
		return nil, err
	}
	return s.c.operation(ctx, &request{method: http.MethodPost, segs: s.segs(id),
		query: url.Values{"operation": {"generateDownloadUrl"}}})
}

// DownloadURL generates a download URL, waits for its task and returns the
// URL.
func (s *IsoService) DownloadURL(ctx context.Context, id string) (string, error) {
	t, err := s.GenerateDownloadURL(ctx, id)
	if err != nil {
		return "", err
	}
	if t, err = s.c.Tasks().Wait(ctx, t); err != nil {
		return "", err
	}
	var r struct {
		URL string `json:"url"`
	}
	if err := t.DecodeResult(&r); err != nil {
		return "", fmt.Errorf("cloudmc: download URL of ISO %s: %w", id, err)
	}
	if strings.TrimSpace(r.URL) == "" {
		return "", fmt.Errorf("cloudmc: download URL of ISO %s: %w: task result has no url", id, ErrInvalidResponse)
	}
	return r.URL, nil
}

// Import starts importing an ISO from an http(s) URL. The task's result is
// the new ISO (decode it with Task.DecodeResult into an *Iso).
func (s *IsoService) Import(ctx context.Context, req ImportIsoRequest) (*Task, error) {
	if s.env.err != nil {
		return nil, s.env.err
	}
	body, err := req.wire()
	if err != nil {
		return nil, err
	}
	return s.c.operation(ctx, &request{method: http.MethodPost, segs: s.segs(), body: body})
}

func (r ImportIsoRequest) wire() (*importIsoWire, error) {
	if strings.TrimSpace(r.Name) == "" {
		return nil, invalidArg("ImportIsoRequest.Name is empty")
	}
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, invalidArg("ImportIsoRequest.URL %s is not an http(s) URL", sample([]byte(r.URL)))
	}
	if r.ZoneID != "" {
		if err := checkUUID("ImportIsoRequest.ZoneID", r.ZoneID); err != nil {
			return nil, err
		}
	}
	if r.OSTypeID != "" {
		if err := checkUUID("ImportIsoRequest.OSTypeID", r.OSTypeID); err != nil {
			return nil, err
		}
	}
	bootable := r.Bootable != nil && *r.Bootable
	if bootable && r.OSTypeID == "" {
		return nil, invalidArg("ImportIsoRequest: a bootable ISO needs OSTypeID")
	}
	return &importIsoWire{
		Name:        r.Name,
		Description: r.Description,
		URL:         r.URL,
		ZoneID:      r.ZoneID,
		Bootable:    bootable,
		OSTypeID:    r.OSTypeID,
		Extractable: r.Extractable,
	}, nil
}

// Delete starts deleting an ISO.
func (s *IsoService) Delete(ctx context.Context, id string) (*Task, error) {
	if s.env.err != nil {
		return nil, s.env.err
	}
	if err := checkUUID("ISO id", id); err != nil {
		return nil, err
	}
	return s.c.operation(ctx, &request{method: http.MethodDelete, segs: s.segs(id)})
}
