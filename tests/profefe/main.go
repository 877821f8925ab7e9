// profefe-compat: a stand-in for the profefe collector for tests and the demo.
// github.com/profefe/profefe is not served by the Go module proxy this project
// can reach, so this program implements profefe's documented HTTP API v0
// (README "HTTP API") on plain files: same paths, parameters, JSON envelope
// {code, body, error}, label parsing, time format and id shape, status codes and
// error texts as the real server (commit 92baf9f) gives them. Flags mirror
// profefe's (-addr, -badger.dir, -log.level) so scripts can swap in the real one.
// What still differs is listed in NOTES.md.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"
)

const (
	timeFormat   = "2006-01-02T15:04:05"
	profilesPath = "/api/0/profiles"
	mergePath    = "/api/0/profiles/merge"
	version      = "0.0.0-kprofefe-compat"
)

// Label and Meta marshal like profefe's own types: {"key":...,"value":...}.
type Label struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Meta keeps the creation time to the nanosecond, as profefe's index does (queries
// compare it); replies carry it truncated to the second (reply()).
type Meta struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Service   string    `json:"service"`
	Labels    []Label   `json:"labels,omitempty"`
	CreatedAt time.Time `json:"created_at,omitempty"`
}

// replied is m as profefe answers it: the time truncated to the second.
func (m Meta) replied() Meta {
	m.CreatedAt = m.CreatedAt.Truncate(time.Second)
	return m
}

var profileTypes = map[string]bool{"cpu": true, "heap": true, "block": true, "mutex": true,
	"goroutine": true, "threadcreate": true, "other": true, "trace": true}

type statusErr struct {
	code int
	msg  string
}

func (e *statusErr) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return badRequest0("bad request: " + fmt.Sprintf(format, a...))
}

// badRequest0 is a 400 with msg as it is.
func badRequest0(msg string) error {
	return &statusErr{http.StatusBadRequest, msg}
}

var errNotFound = &statusErr{http.StatusNotFound, "nothing found"}

// store keeps metadata in memory and on disk (index.jsonl, append-only) and
// each profile's bytes in <id>.pb, so a restart with the same dir keeps them.
type store struct {
	mu    sync.Mutex
	dir   string
	metas []Meta
	index *os.File
}

func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &store{dir: dir}
	idx := filepath.Join(dir, "index.jsonl")
	if data, err := os.ReadFile(idx); err == nil {
		for _, line := range bytes.Split(data, []byte("\n")) {
			var m Meta
			if len(line) > 0 && json.Unmarshal(line, &m) == nil {
				s.metas = append(s.metas, m)
			}
		}
	}
	f, err := os.OpenFile(idx, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	s.index = f
	return s, nil
}

func (s *store) add(m Meta, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.WriteFile(filepath.Join(s.dir, m.ID+".pb"), data, 0o644); err != nil {
		return err
	}
	line, _ := json.Marshal(m)
	if _, err := s.index.Write(append(line, '\n')); err != nil {
		return err
	}
	s.metas = append(s.metas, m)
	return nil
}

func (s *store) get(id string) ([]byte, error) {
	for _, c := range id {
		if !strings.ContainsRune("0123456789abcdefghijklmnopqrstuv", c) {
			return nil, errNotFound
		}
	}
	data, err := os.ReadFile(filepath.Join(s.dir, id+".pb"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNotFound
	}
	return data, err
}

type query struct {
	service, ptype string
	labels         []Label
	from, to       time.Time
	limit          int
}

func (s *store) find(q query) []Meta {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Meta
	for _, m := range s.metas {
		if m.Service != q.service || (q.ptype != "" && m.Type != q.ptype) ||
			m.CreatedAt.Before(q.from) || m.CreatedAt.After(q.to) ||
			!includes(m.Labels, q.labels) {
			continue
		}
		out = append(out, m)
	}
	// profefe's index yields them oldest first, and its limit takes the first ones.
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	if q.limit > 0 && len(out) > q.limit {
		out = out[:q.limit]
	}
	return out
}

func (s *store) services() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, m := range s.metas {
		if !seen[m.Service] {
			seen[m.Service] = true
			out = append(out, m.Service)
		}
	}
	sort.Strings(out)
	return out
}

func includes(have, want []Label) bool {
	kv := map[string]string{}
	for _, l := range have {
		kv[l.Key] = l.Value
	}
	for _, l := range want {
		if v, ok := kv[l.Key]; !ok || v != l.Value {
			return false
		}
	}
	return true
}

// parseLabels splits on ',' then '=' and URL-unescapes key and value, as profefe does.
func parseLabels(s string) ([]Label, error) {
	var out []Label
	for _, chunk := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(chunk, "=")
		k, err := url.QueryUnescape(strings.TrimSpace(k))
		if err != nil {
			return nil, err
		}
		if k == "" {
			continue
		}
		if v, err = url.QueryUnescape(strings.TrimSpace(v)); err != nil {
			return nil, err
		}
		out = append(out, Label{k, v})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// parseTime reads profefe's time format, with its error text.
func parseTime(v string) (time.Time, error) {
	tm, err := time.Parse(timeFormat, v)
	if err != nil || tm.IsZero() {
		return time.Time{}, fmt.Errorf("time in unsupported format %q", v)
	}
	return tm, nil
}

// parseProfileParams: service, type and labels as profefe reads them. An unknown type
// is no error: profefe makes it "unknown", which a write refuses and a query takes as
// every type.
func parseProfileParams(q url.Values) (query, error) {
	var r query
	var err error
	if r.service = q.Get("service"); r.service == "" {
		return r, badRequest(`missing "service"`)
	}
	if r.ptype = strings.TrimSpace(q.Get("type")); !profileTypes[r.ptype] {
		r.ptype = ""
	}
	if r.labels, err = parseLabels(q.Get("labels")); err != nil {
		return r, badRequest(`bad "labels" %q: %s`, q.Get("labels"), err)
	}
	return r, nil
}

// parseFindQuery: a query's parameters; from and to are both required.
func parseFindQuery(q url.Values) (query, error) {
	r, err := parseProfileParams(q)
	if err != nil {
		return r, err
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &r.from}, {"to", &r.to}} {
		v := q.Get(p.name)
		if v == "" {
			return r, badRequest(`missing %q`, p.name)
		}
		if *p.dst, err = parseTime(v); err != nil {
			return r, badRequest(`bad %q timestamp %q: %s`, p.name, v, err)
		}
	}
	if v := q.Get("limit"); v != "" {
		if r.limit, err = strconv.Atoi(v); err != nil {
			return r, badRequest(`bad "limit" %q: %s`, v, err)
		}
	}
	if r.from.After(r.to) {
		return r, badRequest("CreatedAtMin after CreatedAtMax: %v, %v", r.from, r.to)
	}
	return r, nil
}

// newID returns a 20-character base32hex id shaped like profefe's (xid).
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[4:])
	t := uint32(time.Now().Unix())
	b[0], b[1], b[2], b[3] = byte(t>>24), byte(t>>16), byte(t>>8), byte(t)
	const enc = "0123456789abcdefghijklmnopqrstuv"
	out := make([]byte, 0, 20)
	var acc uint64
	bits := 0
	for _, c := range b {
		acc = acc<<8 | uint64(c)
		bits += 8
		for bits >= 5 {
			out = append(out, enc[(acc>>(bits-5))&31])
			bits -= 5
		}
	}
	out = append(out, enc[(acc<<(5-bits))&31])
	return string(out)
}

type server struct{ st *store }

func reply(w http.ResponseWriter, code int, body any, errMsg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	resp := struct {
		Code  int    `json:"code"`
		Body  any    `json:"body,omitempty"`
		Error string `json:"error,omitempty"`
	}{code, body, errMsg}
	_ = json.NewEncoder(w).Encode(resp)
}

func (s *server) handle(fn func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := fn(w, r)
		var se *statusErr
		switch {
		case err == nil:
		case errors.As(err, &se):
			reply(w, se.code, nil, se.msg)
		default:
			log.Printf("%s %s: %v", r.Method, r.URL, err)
			reply(w, http.StatusInternalServerError, nil, "internal server error")
		}
		log.Printf("%s %s", r.Method, r.URL)
	}
}

func (s *server) profiles(w http.ResponseWriter, r *http.Request) error {
	p := path.Clean(r.URL.Path)
	switch {
	case p == mergePath:
		return s.merge(w, r)
	case p == profilesPath && r.Method == http.MethodPost:
		return s.create(w, r)
	case p == profilesPath && r.Method == http.MethodGet:
		return s.list(w, r)
	case strings.HasPrefix(p, profilesPath+"/"):
		return s.byIDs(w, strings.Trim(strings.TrimPrefix(p, profilesPath), "/"))
	}
	return errNotFound
}

// byIDs answers GET /api/0/profiles/<id>[+<id>...]: one profile's bytes, or the merge
// of several, as profefe does.
func (s *server) byIDs(w http.ResponseWriter, raw string) error {
	if raw == "" {
		return &statusErr{http.StatusBadRequest, "no profile id"}
	}
	var pps []*profile.Profile
	var one []byte
	for i, id := range strings.Split(raw, "+") {
		if id == "" {
			return &statusErr{http.StatusInternalServerError, "internal server error"}
		}
		data, err := s.st.get(id)
		if err != nil {
			return err
		}
		if i == 0 {
			one = data
		}
		pp, err := profile.ParseData(data)
		if err != nil {
			return err
		}
		pps = append(pps, pp)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, raw))
	if len(pps) == 1 {
		_, _ = w.Write(one)
		return nil
	}
	merged, err := profile.Merge(pps)
	if err != nil {
		return err
	}
	return merged.Write(w)
}

func (s *server) create(w http.ResponseWriter, r *http.Request) error {
	q, err := parseProfileParams(r.URL.Query())
	if err != nil {
		return err
	}
	var created time.Time
	if v := r.URL.Query().Get("created_at"); v != "" {
		if created, err = parseTime(v); err != nil {
			return badRequest(`bad "created_at" %q: %s`, v, err)
		}
	}
	if q.ptype == "" {
		return badRequest("unknown profile type")
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	// profefe's order: the pprof TimeNanos, else created_at, else its clock. It refuses
	// a profile it cannot parse or one without samples (not traces: it stores them
	// unread).
	if q.ptype != "trace" {
		pp, err := profile.ParseData(data)
		if err == nil && len(pp.Sample) == 0 {
			err = errors.New("profile is empty: no samples")
		}
		if err != nil {
			return badRequest0(fmt.Sprintf("malformed profile (could not parse pprof profile: %s)", err))
		}
		if pp.TimeNanos > 0 {
			created = time.Unix(0, pp.TimeNanos).UTC()
		}
	}
	if created.IsZero() {
		created = time.Now().UTC()
	}
	m := Meta{ID: newID(), Type: q.ptype, Service: q.service, Labels: q.labels, CreatedAt: created}
	if err := s.st.add(m, data); err != nil {
		return err
	}
	reply(w, http.StatusOK, m.replied(), "")
	return nil
}

func (s *server) list(w http.ResponseWriter, r *http.Request) error {
	q, err := parseFindQuery(r.URL.Query())
	if err != nil {
		return err
	}
	found := s.st.find(q)
	if len(found) == 0 {
		return errNotFound
	}
	for i := range found {
		found[i] = found[i].replied()
	}
	reply(w, http.StatusOK, found, "")
	return nil
}

func (s *server) merge(w http.ResponseWriter, r *http.Request) error {
	q, err := parseFindQuery(r.URL.Query())
	if err != nil {
		return err
	}
	if q.ptype == "" || q.ptype == "trace" {
		name := q.ptype
		if name == "" {
			name = "unknown"
		}
		return &statusErr{http.StatusMethodNotAllowed, fmt.Sprintf("can't merge profiles of %s type", name)}
	}
	var pps []*profile.Profile
	for _, m := range s.st.find(q) {
		data, err := s.st.get(m.ID)
		if err != nil {
			return err
		}
		if pp, err := profile.ParseData(data); err == nil {
			pps = append(pps, pp)
		}
	}
	if len(pps) == 0 {
		return errNotFound
	}
	merged, err := profile.Merge(pps)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, q.ptype))
	return merged.Write(w)
}

func main() {
	addr := flag.String("addr", ":10100", "address to listen")
	dir := flag.String("badger.dir", "", "directory to store profiles in (name kept from profefe)")
	flag.String("log.level", "info", "ignored; kept for profefe flag compatibility")
	flag.Parse()
	if *dir == "" {
		log.Fatal("-badger.dir is required")
	}
	st, err := openStore(*dir)
	if err != nil {
		log.Fatalf("open store: %v", err)
	}
	s := &server{st: st}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/0/version", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		reply(w, http.StatusOK, map[string]string{"version": version, "commit": "", "build_time": ""}, "")
		return nil
	}))
	mux.HandleFunc("/api/0/services", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		svcs := s.st.services()
		if len(svcs) == 0 {
			return errNotFound
		}
		reply(w, http.StatusOK, svcs, "")
		return nil
	}))
	mux.HandleFunc("/api/0/", s.handle(s.profiles))
	log.Printf("profefe-compat %s listening on %s, data in %s", version, *addr, *dir)
	log.Fatal(http.ListenAndServe(*addr, mux))
}
