// Package cloudmc is a client for the CloudMC ISO API: list, get, import and
// delete ISOs, attach them to instances and detach them, generate download
// URLs, and wait for the tasks these operations start.
//
//	client, err := cloudmc.NewClient("https://cloudmc.example.com/api/v2", apiKey)
//	isos := client.Isos("compute-on", "test_area")
//	list, err := isos.List(ctx, nil)
//
// # Authentication
//
// Every request carries the key in the MC-Api-Key header. The key is never
// sent to another host: redirects are followed only within the base URL's
// scheme, host and port, so a redirect elsewhere (or from https to http)
// ends in an error matching ErrRedirectRefused. A plain http:// base URL is
// refused unless its host is loopback or WithInsecureHTTP is given. The key
// never appears in an error, a log line or a printed Client.
//
// # Errors
//
// Bad input (a non-UUID id, an empty service code or environment name) fails
// with ErrInvalidArgument before anything is sent. An error status, or a
// 2xx answer carrying "errors", gives an *APIError with the status, method,
// path, decoded error entries and a bounded copy of the body; errors.Is
// matches it against ErrNotFound (404), ErrUnauthorized (401, 403) and
// ErrRateLimited (429). A body that cannot be decoded gives a *DecodeError
// (ErrInvalidResponse) that names the call and quotes the start of the body.
//
// # Retries
//
// Without WithRetry, DefaultRetryPolicy applies: 3 retries, waits from 250ms
// doubling to 10s, with jitter. GET is retried on network errors and on 429,
// 502, 503 and 504; POST and DELETE only on 429 or when the connection
// failed before the request was sent, so an operation is never run twice.
// Retry-After (seconds or an HTTP date) sets the wait; one longer than
// MaxBackoff ends the retries with the 429 or 503 as an *APIError whose
// RetryAfter says how long the server asked for. Waits end at once when
// the context does.
//
// # Waiting for tasks
//
// Operations return the *Task the server started; a synchronous answer comes
// back as a task that is already TaskSuccess. TaskService.Wait polls it,
// first after 100ms, then half as long again each time up to 5s (see
// WithPollInterval), and
// stops at DefaultWaitTimeout when the context has no earlier deadline. A
// failed task gives an error matching ErrTaskFailed (a *TaskError holding
// the task and its result); a context that ends first gives an error
// matching the context's error that names the task id. Wait starts no
// goroutine.
//
// # Testing with the fake server
//
// Package cloudmctest runs an in-process fake CloudMC that keeps state and
// applies the API's rules. Pass its URL and key to NewClient:
//
//	fake := cloudmctest.NewServer()
//	defer fake.Close()
//	client, _ := cloudmc.NewClient(fake.URL, fake.APIKey)
package cloudmc
