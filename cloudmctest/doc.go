// Package cloudmctest provides an in-process fake CloudMC server for tests,
// the way net/http/httptest sits beside net/http.
//
// NewServer starts it on a loopback port with the API under /api/v2, a made-up
// key, and a small seed: the seed page's bootable ISO (SeedIsoID), a
// non-bootable extractable ISO (SeedAttachableIsoID) and two instances
// (SeedInstanceID, SeedStoppedInstanceID). It speaks the wire format of the
// ISO API: list with paging and sorting, get, import, delete, attach, detach,
// download URLs and tasks, enforcing the reference's rules and answering
// errors in the {"errors":[...]} envelope. SDK users pass s.URL and s.APIKey
// to cloudmc.NewClient:
//
//	func TestAttach(t *testing.T) {
//		s := cloudmctest.NewServer()
//		defer s.Close()
//
//		c, err := cloudmc.NewClient(s.URL, s.APIKey, cloudmc.WithHTTPClient(s.Client()))
//		if err != nil {
//			t.Fatal(err)
//		}
//		ctx := context.Background()
//		isos := c.Isos(cloudmctest.DefaultService, cloudmctest.DefaultEnvironment)
//		task, err := isos.Attach(ctx, cloudmctest.SeedAttachableIsoID, cloudmctest.SeedInstanceID)
//		// ... wait for the task, then check the fake's state:
//		in, _ := s.Instance(cloudmctest.SeedInstanceID)
//		if in.IsoID != cloudmctest.SeedAttachableIsoID {
//			t.Errorf("ISO not attached: %+v", in)
//		}
//	}
//
// Operations answer with a task that stays PENDING for one poll of
// GET /tasks/{id}; the state changes when the task succeeds. WithTaskBehavior
// and SetTaskBehavior make tasks finish at once, take more polls, fail, answer
// synchronously, or use the reference's flat task shape. Requests lists what
// the server received (with the key redacted) and SetInterceptor injects
// faults such as 503s or HTML pages from a proxy.
package cloudmctest
