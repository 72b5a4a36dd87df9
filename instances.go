package cloudmc

import (
	"context"
	"net/http"
	"net/url"
)

// InstanceService holds the instance calls of one environment that concern
// ISOs. Get one from Client.Instances. Like IsoService's operations, its
// calls return the started task, or a *TaskError for an answer that has
// already FAILED.
type InstanceService struct {
	c   *Client
	env env
}

func (s *InstanceService) segs(id string) []string {
	return []string{"services", s.env.service, s.env.name, "instances", id}
}

// AttachIso attaches a non-bootable ISO to an instance, from the instance's
// side. An instance holds at most one ISO.
func (s *InstanceService) AttachIso(ctx context.Context, instanceID, isoID string) (*Task, error) {
	if s.env.err != nil {
		return nil, s.env.err
	}
	if err := checkUUID("instance id", instanceID); err != nil {
		return nil, err
	}
	if err := checkUUID("ISO id", isoID); err != nil {
		return nil, err
	}
	return s.c.operation(ctx, &request{method: http.MethodPost, segs: s.segs(instanceID),
		query: url.Values{"operation": {"attachIso"}},
		body:  map[string]string{"isoId": isoID}})
}

// DetachIso detaches the ISO attached to an instance.
func (s *InstanceService) DetachIso(ctx context.Context, instanceID string) (*Task, error) {
	if s.env.err != nil {
		return nil, s.env.err
	}
	if err := checkUUID("instance id", instanceID); err != nil {
		return nil, err
	}
	return s.c.operation(ctx, &request{method: http.MethodPost, segs: s.segs(instanceID),
		query: url.Values{"operation": {"detachIso"}}})
}
