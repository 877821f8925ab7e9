// hostile-pod: a fake pod workload written for the tests, not a real service.
// It answers every profile request in one hostile way (chosen by --mode) that a
// broken or malicious pod could, and records every request it gets (method,
// path, headers) for the test to read from /_requests on --requests-addr.
package main

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"hash/crc32"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Modes, one per process.
var modes = map[string]http.HandlerFunc{
	"redirect":        redirect,
	"endless-body":    endlessBody,
	"slow-drip":       slowDrip,
	"endless-headers": endlessHeaders,
	"gzip-bomb":       gzipBomb,
	"gzip-bomb-ce":    gzipBombEncoded,
	"html":            html,
	"reset":           resetMidBody,
	"busy":            busy,
	"not-pprof":       notPprof,
	"sink":            sink,
}

var (
	redirectTo = flag.String("redirect-to", "", "Location of the redirect mode")
	bombBytes  = flag.Int64("bomb-bytes", 2<<30, "inflated size of the gzip bomb (zeros, a multiple of 1 MiB)")
	bomb       []byte
	tlsCert    = flag.String("tls-cert", "", "serve the hostile answers over https with this certificate (PEM): "+
		"a self-signed one, one of another CA or for another name (the https modes of the tests)")
	tlsKey = flag.String("tls-key", "", "the certificate's key (PEM)")

	mu       sync.Mutex
	requests = []record{}
)

type record struct {
	Time    string      `json:"time"`
	Method  string      `json:"method"`
	URI     string      `json:"uri"`
	Remote  string      `json:"remote"`
	Headers http.Header `json:"headers"`
}

func main() {
	addr := flag.String("addr", ":6060", "listen address of the hostile server")
	reqAddr := flag.String("requests-addr", ":6061", "listen address of /_requests (the recorded requests as JSON)")
	mode := flag.String("mode", "", "one of: "+modeNames())
	flag.String("path", "", "ignored (every path gets the hostile answer)")
	flag.Parse()
	h, ok := modes[*mode]
	if !ok {
		log.Fatalf("hostile-pod: unknown --mode %q (want one of %s)", *mode, modeNames())
	}
	if *mode == "redirect" && *redirectTo == "" {
		log.Fatal("hostile-pod: --mode redirect needs --redirect-to URL")
	}
	if strings.HasPrefix(*mode, "gzip-bomb") {
		start := time.Now()
		bomb = makeBomb(*bombBytes)
		log.Printf("gzip bomb: %d bytes inflating to %d, made in %v", len(bomb), *bombBytes, time.Since(start))
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	rln, err := net.Listen("tcp", *reqAddr)
	if err != nil {
		log.Fatal(err)
	}
	// The test reads both addresses from this line (ports may be 0 = any).
	fmt.Printf("hostile-pod mode %s listening on %s requests on %s\n", *mode, ln.Addr(), rln.Addr())
	go func() { log.Fatal(http.Serve(rln, http.HandlerFunc(listRequests))) }()
	srv := &http.Server{Handler: recorder(h), MaxHeaderBytes: 1 << 16}
	if *tlsCert != "" {
		log.Fatal(srv.ServeTLS(ln, *tlsCert, *tlsKey))
	}
	log.Fatal(srv.Serve(ln))
}

func modeNames() string {
	var names []string
	for m := range modes {
		names = append(names, m)
	}
	return strings.Join(names, ", ")
}

// recorder records each request, then answers /healthz (the cluster script
// waits on it) with 200 and everything else the hostile way.
func recorder(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests = append(requests, record{time.Now().UTC().Format(time.RFC3339Nano), r.Method,
			r.RequestURI, r.RemoteAddr, r.Header.Clone()})
		mu.Unlock()
		if r.URL.Path == "/healthz" {
			fmt.Fprintln(w, "ok")
			return
		}
		h(w, r)
	})
}

func listRequests(w http.ResponseWriter, r *http.Request) {
	mu.Lock()
	defer mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(requests)
}

func redirect(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, *redirectTo, http.StatusFound)
}

// endlessBody: 200 and zeros until the client goes away.
func endlessBody(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	chunk := make([]byte, 64<<10)
	for {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

// slowDrip: a gzip header, then one byte every 200ms: never idle long enough
// for a low-speed timeout, never done.
func slowDrip(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	f := w.(http.Flusher)
	if _, err := w.Write([]byte{0x1f, 0x8b, 8, 0}); err != nil {
		return
	}
	f.Flush()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
			if _, err := w.Write([]byte{0}); err != nil {
				return
			}
			f.Flush()
		}
	}
}

// hijack takes the raw connection for modes that break HTTP itself.
func hijack(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter) {
	c, rw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		log.Printf("hijack: %v", err)
		return nil, nil
	}
	return c, rw
}

// endlessHeaders: a status line, then header lines forever.
func endlessHeaders(w http.ResponseWriter, r *http.Request) {
	c, rw := hijack(w)
	if c == nil {
		return
	}
	defer c.Close()
	rw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n")
	line := "X-Hostile: " + strings.Repeat("h", 1000) + "\r\n"
	for i := 0; ; i++ {
		if _, err := fmt.Fprintf(rw, "X-Hostile-%d%s", i, line[len("X-Hostile"):]); err != nil {
			return
		}
		if i%64 == 0 && rw.Flush() != nil {
			return
		}
	}
}

// makeBomb: a gzip stream of n zero bytes (n a multiple of 1 MiB), made in
// well under a second: one MiB of zeros deflated to a byte-aligned block
// (sync flush), repeated; then an empty final block and the trailer.
func makeBomb(n int64) []byte {
	const mib = 1 << 20
	var block bytes.Buffer
	fw, _ := flate.NewWriter(&block, flate.BestCompression)
	zero := make([]byte, mib)
	fw.Write(zero)
	fw.Flush()
	reps := int(n / mib)
	out := bytes.NewBuffer(make([]byte, 0, 10+block.Len()*reps+13))
	out.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 0xff})
	crc := crc32.NewIEEE()
	for i := 0; i < reps; i++ {
		out.Write(block.Bytes())
		crc.Write(zero)
	}
	out.Write([]byte{1, 0, 0, 0xff, 0xff})
	binary.Write(out, binary.LittleEndian, crc.Sum32())
	binary.Write(out, binary.LittleEndian, uint32(n))
	return out.Bytes()
}

// gzipBomb: the bomb as the body itself, as a profile is sent (.pb.gz).
func gzipBomb(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", fmt.Sprint(len(bomb)))
	w.Write(bomb)
}

// gzipBombEncoded: the bomb as Content-Encoding: gzip, which an HTTP client
// that asked for gzip inflates on its own.
func gzipBombEncoded(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Set("Content-Length", fmt.Sprint(len(bomb)))
	w.Write(bomb)
}

func html(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, "<!DOCTYPE html><html><head><title>Login</title></head><body><h1>Please sign in</h1></body></html>\n")
}

// resetMidBody: promises 1 MiB, sends part of a gzip stream, then resets
// the connection (RST, not FIN).
func resetMidBody(w http.ResponseWriter, r *http.Request) {
	c, rw := hijack(w)
	if c == nil {
		return
	}
	rw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n")
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(bytes.Repeat([]byte("partial profile "), 4096))
	zw.Flush()
	rw.Write(b.Bytes())
	rw.Flush()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// busy: what net/http/pprof answers while another CPU profile runs.
func busy(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Go-Pprof", "1")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintln(w, "Could not enable CPU profiling: cpu profiling already in use")
}

// notPprof: a valid gzip stream whose content is JSON, not a profile.
func notPprof(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	zw := gzip.NewWriter(w)
	fmt.Fprintln(zw, `{"status":"ok","note":"this is JSON in gzip, not a pprof profile"}`)
	zw.Close()
}

// sink: the target of a redirect; it must never be reached.
func sink(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintln(w, "sink: nothing should reach this")
}
