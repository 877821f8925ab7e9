// pprof-target: a pod's workload in the test cluster. It serves net/http/pprof
// under a configurable prefix and keeps every profile type non-empty with
// light, steady CPU work, allocations, goroutines and lock contention
// (mutex and block profiling can be left off: --no-contention-profiling).
// With --godeltaprof it also serves godeltaprof's delta_heap, delta_block and
// delta_mutex, as services that register github.com/grafana/pyroscope-go/godeltaprof do.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	deltapprof "github.com/grafana/pyroscope-go/godeltaprof/http/pprof"
)

func main() {
	addr := flag.String("addr", ":6060", "listen address")
	prefix := flag.String("path", "/debug/pprof", "URL prefix of the pprof handlers")
	cpuMillis := flag.Int("cpu-ms", 1, "milliseconds of CPU work per second (keep small: 110 pods share 2 cores)")
	cpuProfMillis := flag.Int("cpu-ms-profiling", 10, "milliseconds of CPU work per second while a CPU profile runs")
	flag.IntVar(&cpuBurstMillis, "cpu-burst-ms", 50, "milliseconds of CPU work at the start of each CPU profile")
	goroutines := flag.Int("goroutines", 20, "idle goroutines to keep (goroutine profile)")
	flag.BoolVar(&ignoreSeconds, "ignore-seconds", false,
		"act as a Go older than 1.16: answer allocs, heap, block and mutex with the cumulative profile, ignoring ?seconds=")
	gcEvery := flag.Duration("gc-every", 0, "run a garbage collection this often (0: never forced): allocs and heap profiles only change at a GC, so short delta windows need one")
	contentionOff := flag.Bool("no-contention-profiling", false,
		"leave mutex and block profiling off, as most services do (their profiles stay empty)")
	flag.BoolVar(&godeltaprof, "godeltaprof", false,
		"also serve godeltaprof's delta_heap, delta_block and delta_mutex (each answer: the change since the previous call)")
	flag.BoolVar(&logRequests, "log-requests", false,
		"log every request's method, path and query on stderr (what a test checks was asked)")
	tlsFlags := addTLSFlags()
	flag.Parse()

	// Sample every contention event so mutex and block profiles have data
	// even though the work is light. Off, they stay empty like an ordinary
	// service's, whose runtime never calls either.
	if !*contentionOff {
		runtime.SetMutexProfileFraction(1)
		runtime.SetBlockProfileRate(1)
	}

	warmHeap()
	go cpuWork(*cpuMillis, *cpuProfMillis)
	if *gcEvery > 0 {
		go func() {
			for range time.Tick(*gcEvery) {
				runtime.GC()
			}
		}()
	}
	go allocWork()
	go contention()
	for i := 0; i < *goroutines; i++ {
		go idle()
	}

	p := "/" + strings.Trim(*prefix, "/")
	if p == "/" {
		p = ""
	}
	mux := http.NewServeMux()
	mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		serve(w, r, strings.TrimPrefix(r.URL.Path, p+"/"))
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	log.Printf("pprof-target pid %d serving %s/ on %s", os.Getpid(), p, *addr)
	if tlsFlags.cert == "" {
		log.Fatal(http.ListenAndServe(*addr, mux))
	}
	log.Fatal(tlsFlags.serve(*addr, mux, p+"/"))
}

// tlsOptions: pprof over https only, optionally behind a bearer token and a
// client certificate (what pods that must not expose pprof in the clear do).
type tlsOptions struct {
	cert, key, tokenFile, clientCA string
}

func addTLSFlags() *tlsOptions {
	o := &tlsOptions{}
	flag.StringVar(&o.cert, "tls-cert", "", "serve https only, with this certificate (PEM)")
	flag.StringVar(&o.key, "tls-key", "", "the certificate's key (PEM)")
	flag.StringVar(&o.tokenFile, "require-token-file", "",
		"answer pprof only to \"Authorization: Bearer <the file's content>\" (read at each request)")
	flag.StringVar(&o.clientCA, "client-ca", "", "answer pprof only to clients with a certificate signed by this CA")
	return o
}

// serve listens with TLS; /healthz stays open so that the cluster script can
// tell the pod is up, the pprof prefix gets the token and client checks.
func (o *tlsOptions) serve(addr string, mux *http.ServeMux, prefix string) error {
	// Read at each handshake: a test learns the pod's IP only once the pod
	// runs, then writes the certificate naming it (and a renewal applies too).
	cfg := &tls.Config{MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			c, err := tls.LoadX509KeyPair(o.cert, o.key)
			return &c, err
		}}
	if o.clientCA != "" {
		pem, err := os.ReadFile(o.clientCA)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("no certificate in %s", o.clientCA)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	srv := &http.Server{Addr: addr, TLSConfig: cfg, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, prefix) && !o.allowed(w, r) {
			return
		}
		mux.ServeHTTP(w, r)
	})}
	return srv.ListenAndServeTLS("", "")
}

// allowed answers 401 or 403 and returns false when a check fails.
func (o *tlsOptions) allowed(w http.ResponseWriter, r *http.Request) bool {
	if o.clientCA != "" && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
		log.Printf("refused %s: no client certificate", r.URL.Path)
		http.Error(w, "client certificate required", http.StatusForbidden)
		return false
	}
	if o.tokenFile == "" {
		return true
	}
	want, err := os.ReadFile(o.tokenFile)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return false
	}
	if r.Header.Get("Authorization") != "Bearer "+strings.TrimSpace(string(want)) {
		log.Printf("refused %s: wrong or no bearer token", r.URL.Path)
		http.Error(w, "invalid bearer token", http.StatusUnauthorized)
		return false
	}
	return true
}

// serve dispatches one pprof endpoint by name; pprof.Index only knows the
// fixed /debug/pprof/ prefix, so named profiles are routed here.
func serve(w http.ResponseWriter, r *http.Request, name string) {
	if logRequests {
		log.Printf("request %s %s?%s", r.Method, r.URL.Path, r.URL.RawQuery)
	}
	if godeltaprof && serveDelta(w, r, name) {
		return
	}
	switch name {
	case "":
		pprof.Index(w, r)
	case "profile":
		// Work harder while being profiled so a short CPU profile has
		// samples, without 110 idle targets burning the machine.
		// A burst at the start too: the 1s tick alone leaves a 1s profile
		// with 0 or 1 samples, and profefe refuses an empty profile. 100ms
		// is time enough for the profiler to have started.
		profiling.Add(1)
		defer profiling.Add(-1)
		go func() {
			time.Sleep(100 * time.Millisecond)
			burn(cpuBurstMillis)
		}()
		pprof.Profile(w, r)
	case "trace":
		pprof.Trace(w, r)
	case "cmdline":
		pprof.Cmdline(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	default:
		if ignoreSeconds {
			// Before Go 1.16 these handlers had no delta mode: the query is dropped,
			// so the answer is the cumulative profile without a duration.
			r.URL.RawQuery = ""
			r.Form = nil
		}
		pprof.Handler(name).ServeHTTP(w, r)
	}
}

// serveDelta answers godeltaprof's endpoints; false for any other name.
func serveDelta(w http.ResponseWriter, r *http.Request, name string) bool {
	switch name {
	case "delta_heap":
		deltapprof.Heap(w, r)
	case "delta_block":
		deltapprof.Block(w, r)
	case "delta_mutex":
		deltapprof.Mutex(w, r)
	default:
		return false
	}
	return true
}

var (
	godeltaprof    bool
	logRequests    bool
	ignoreSeconds  bool
	cpuBurstMillis int
	sink           []byte
	profiling      atomic.Int32 // CPU profiles in progress
)

// cpuWork burns about ms milliseconds of CPU each second (profMs while a CPU
// profile is being taken).
func cpuWork(ms, profMs int) {
	for range time.Tick(time.Second) {
		d := ms
		if profiling.Load() > 0 {
			d = profMs
		}
		burn(d)
	}
}

// burn spends about ms milliseconds of CPU.
func burn(ms int) {
	end := time.Now().Add(time.Duration(ms) * time.Millisecond)
	x := 0
	for time.Now().Before(end) {
		for i := 0; i < 1000; i++ {
			x += i * i
		}
	}
	_ = x
}

// warmHeap allocates 4 MiB of garbage and collects it, so that the heap
// profile has samples from the start: it shows allocations as of the last GC,
// and a young process that has not collected yet serves an empty one.
func warmHeap() {
	for i := 0; i < 64; i++ {
		sink = make([]byte, 64<<10)
	}
	runtime.GC()
}

// allocWork keeps some memory live and allocates steadily (heap, allocs).
// Wakeups are rare on purpose: 110 targets share two cores.
func allocWork() {
	keep := make([][]byte, 64)
	i := 0
	for range time.Tick(100 * time.Millisecond) {
		keep[i%len(keep)] = make([]byte, 64<<10)
		sink = make([]byte, 4<<10)
		i++
	}
}

// contention makes goroutines fight over a mutex and wait on a channel
// (mutex, block) and starts a thread now and then (threadcreate).
func contention() {
	var mu sync.Mutex
	ch := make(chan struct{})
	// Ten times a second a goroutine wants the mutex while it is held, so
	// every delta window of a second or more has mutex (and block) samples;
	// two goroutines left to meet by chance did so in few windows.
	go func() {
		for range time.Tick(100 * time.Millisecond) {
			mu.Lock()
			done := make(chan struct{})
			go func() {
				mu.Lock()
				mu.Unlock()
				close(done)
			}()
			time.Sleep(2 * time.Millisecond)
			mu.Unlock()
			<-done
		}
	}()
	go func() {
		for range time.Tick(100 * time.Millisecond) {
			ch <- struct{}{}
		}
	}()
	for range ch {
	}
}

func idle() {
	select {}
}
