package protocol

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTP (docs/protocol.md sections 8 to 10), checked in the order of 10.7.

const deadlineHeader = "X-Plugvisor-Deadline-Ms"

// callError is an answer with the error body of section 10.6.
type callError struct {
	status  int
	code    string
	message string
}

func (e *callError) Error() string { return e.message }

func fail(status int, code, format string, args ...any) *callError {
	return &callError{status, code, fmt.Sprintf(format, args...)}
}

func (p *plugin) route(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && path == "/healthz" {
		// Section 8: no token, not activity.
		send(w, http.StatusOK, "application/json", []byte(`{"status":"ok"}`), false)
		return
	}
	contract, typeName, method, isCall := splitCall(r.Method, path)
	isShutdown := r.Method == http.MethodPost && path == "/shutdown"
	if !isCall && !isShutdown {
		sendError(w, fail(http.StatusNotFound, "not_found", "no endpoint %s %s; calls are POST /v1/{contract}/{type}/{method}", r.Method, path), false)
		return
	}
	if !p.authorized(r.Header.Get("Authorization")) {
		sendError(w, fail(http.StatusUnauthorized, "unauthorized", "missing or wrong token: send Authorization: Bearer <token>"), false)
		return
	}
	if r.ContentLength > p.cfg.MaxBodyBytes {
		sendError(w, fail(http.StatusRequestEntityTooLarge, "too_large", "the body is %d bytes; this plugin accepts at most %d", r.ContentLength, p.cfg.MaxBodyBytes), true)
		return
	}
	if isShutdown {
		// Section 13.1: calls are refused from now on, and the 202 is
		// written before the sequence can close this connection.
		p.stopAdmitting()
		send(w, http.StatusAccepted, "application/json", []byte(`{"status":"shutting down"}`), false)
		p.beginShutdown("POST /shutdown")
		return
	}
	if !p.admit() {
		sendError(w, fail(http.StatusServiceUnavailable, "unavailable", "the plugin is shutting down; the call was not run"), true)
		return
	}
	defer p.done() // after the answer is flushed below: a call is in flight until then
	if err := p.call(w, r, contract, typeName, method); err != nil {
		var ce *callError
		if !errors.As(err, &ce) {
			ce = fail(http.StatusInternalServerError, "internal", "%s/%s %s failed: %v", contract, typeName, method, err)
		}
		sendError(w, ce, ce.status == http.StatusRequestEntityTooLarge)
	}
}

// splitCall recognises a call path: POST /v1/{contract}/{type}/{method}, each segment non-empty.
func splitCall(method, path string) (contract, typeName, name string, ok bool) {
	parts := strings.Split(path, "/")
	if method != http.MethodPost || len(parts) != 5 || parts[0] != "" || parts[1] != "v1" {
		return "", "", "", false
	}
	for _, part := range parts[2:] {
		if part == "" {
			return "", "", "", false
		}
	}
	return parts[2], parts[3], parts[4], true
}

// authorized compares in constant time; digests of equal length hide the token's length too.
func (p *plugin) authorized(header string) bool {
	want := sha256.Sum256([]byte("Bearer " + p.cfg.Token))
	got := sha256.Sum256([]byte(header))
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1
}

// call runs one admitted call and writes its 200 answer; an error is answered by the caller.
func (p *plugin) call(w http.ResponseWriter, r *http.Request, contract, typeName, name string) error {
	t, ok := (*p.impl)[contract][typeName]
	if !ok {
		return fail(http.StatusNotFound, "not_found", "this plugin provides no %s type '%s'", contract, typeName)
	}
	ctx, cancel, err := withDeadline(r)
	if err != nil {
		return err
	}
	defer cancel()
	m, ok := t.methods[name]
	if !ok {
		return fail(http.StatusNotFound, "not_found", "%s has no method '%s' (%s)", contract, name, t.names)
	}
	var input []byte
	if m.input != "none" { // section 10.2: a "none" body is ignored, whatever it is
		input, err = readBody(w, r, p.cfg.MaxBodyBytes)
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return fail(http.StatusRequestEntityTooLarge, "too_large", "the body exceeds %d bytes", p.cfg.MaxBodyBytes)
			}
			return fail(http.StatusBadRequest, "invalid_input", "cannot read the body: %v", err)
		}
		if m.input == "json" && !json.Valid(input) {
			return fail(http.StatusBadRequest, "invalid_input", "the input of %s is not a JSON document", name)
		}
	}
	var output []byte
	if m.run != nil {
		if output, err = m.run(ctx, input); err != nil {
			return err
		}
	}
	switch m.output { // section 10.3
	case "none":
		send(w, http.StatusOK, "application/json", []byte("{}"), false)
	case "json":
		send(w, http.StatusOK, "application/json", output, false)
	default:
		send(w, http.StatusOK, "application/octet-stream", output, false)
	}
	return nil
}

// withDeadline reads X-Plugvisor-Deadline-Ms (section 10.4): absent or
// empty means no deadline; anything but 1 to 19 decimal digits is a 400. A
// budget too long for a time.Duration (about 292 years) means no deadline.
func withDeadline(r *http.Request) (context.Context, context.CancelFunc, error) {
	text := r.Header.Get(deadlineHeader)
	if text == "" {
		ctx, cancel := context.WithCancel(r.Context())
		return ctx, cancel, nil
	}
	if len(text) > 19 || strings.TrimLeft(text, "0123456789") != "" {
		return nil, nil, fail(http.StatusBadRequest, "invalid_input", "%s must be a whole number of milliseconds (1 to 19 digits), not %q", deadlineHeader, text)
	}
	ms, _ := strconv.ParseUint(text, 10, 64) // 19 digits always fit
	if ms > uint64(math.MaxInt64/int64(time.Millisecond)) {
		ctx, cancel := context.WithCancel(r.Context())
		return ctx, cancel, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(ms)*time.Millisecond)
	return ctx, cancel, nil
}

// send writes a whole answer and flushes it to the connection, so that it is
// written before the call counts as ended (section 13.2).
func send(w http.ResponseWriter, status int, contentType string, body []byte, close bool) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if close {
		h.Set("Connection", "close")
	}
	w.WriteHeader(status)
	w.Write(body)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

func sendError(w http.ResponseWriter, e *callError, close bool) {
	body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": e.code, "message": e.message}})
	send(w, e.status, "application/json", body, close || e.status == http.StatusServiceUnavailable)
}

func jsonString(s string) string {
	out, _ := json.Marshal(s)
	return string(out)
}

// readBody reads the request body, at most max bytes. A body of known
// length goes into one buffer of that size; io.ReadAll would grow its buffer
// from 512 bytes, copying the body a dozen times on the way to 64 KiB.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, max)
	if r.ContentLength < 0 || r.ContentLength > max {
		return io.ReadAll(body) // chunked, or over the limit: MaxBytesReader says so
	}
	input := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(body, input); err != nil {
		return nil, err
	}
	return input, nil
}
