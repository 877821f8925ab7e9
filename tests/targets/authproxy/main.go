// authproxy: a test peer, the TLS reverse proxy that stands for the authenticating ingress users put in front of profefe.
package main

import (
	"crypto/subtle"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"time"
)

// statusWriter remembers the status written, for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// unauthorized answers 401 in profefe's JSON envelope, so a client shows the reason.
func unauthorized(w http.ResponseWriter, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("WWW-Authenticate", `Bearer realm="profefe"`)
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": http.StatusUnauthorized, "error": reason})
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (port 0: any free port, named in the log)")
	cert := flag.String("cert", "", "server certificate (PEM)")
	key := flag.String("key", "", "server key (PEM)")
	upstream := flag.String("upstream", "", "http URL of the profefe to proxy to")
	token := flag.String("token", "", "bearer token a request must carry")
	header := flag.String("header", "", `extra header a request must carry, "Name: value"`)
	flag.Parse()
	log.SetFlags(0)
	log.SetOutput(os.Stderr)

	if *cert == "" || *key == "" || *upstream == "" || *token == "" || *header == "" {
		log.Fatal("authproxy: -cert, -key, -upstream, -token and -header are required")
	}
	up, err := url.Parse(*upstream)
	if err != nil || up.Scheme != "http" || up.Host == "" {
		log.Fatalf("authproxy: -upstream %q is not an http URL", *upstream)
	}
	hname, hvalue, ok := strings.Cut(*header, ":")
	hname, hvalue = strings.TrimSpace(hname), strings.TrimSpace(hvalue)
	if !ok || hname == "" {
		log.Fatalf("authproxy: -header %q is not \"Name: value\"", *header)
	}

	proxy := httputil.NewSingleHostReverseProxy(up)
	check := func(r *http.Request) string {
		auth := r.Header.Get("Authorization")
		if auth == "" {
			return "missing bearer token"
		}
		got, isBearer := strings.CutPrefix(auth, "Bearer ")
		if !isBearer || !equal(got, *token) {
			return "invalid bearer token"
		}
		v := r.Header.Values(hname)
		if len(v) == 0 {
			return fmt.Sprintf("missing header %s", hname)
		}
		if len(v) != 1 || !equal(strings.TrimSpace(v[0]), hvalue) {
			return fmt.Sprintf("header %s: wrong value", hname)
		}
		return ""
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		if reason := check(r); reason != "" {
			unauthorized(sw, reason)
		} else {
			// The credentials are the ingress's business, not profefe's.
			r.Header.Del("Authorization")
			proxy.ServeHTTP(sw, r)
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		log.Printf("%s %s %d", r.Method, r.URL.Path, sw.status)
	})

	// Listening first lets -addr end in :0; the log names the port taken.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("authproxy: %v", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("authproxy: serving https on %s for %s", ln.Addr(), up)
	if err := srv.ServeTLS(ln, *cert, *key); err != nil {
		log.Fatalf("authproxy: %v", err)
	}
}
