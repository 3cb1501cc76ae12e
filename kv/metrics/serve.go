package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tinykv-lab/tinykv/log"
)

// StatusServer serves /metrics, and Go's profiles under /debug/pprof/, on
// the store's status address.
type StatusServer struct {
	srv *http.Server
	ln  net.Listener
}

// Serve starts answering on addr; an empty addr serves nothing
// (nil, nil). The error says when the address cannot be listened on.
func Serve(addr string) (*StatusServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.Handler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s := &StatusServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln: ln}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warnf("status server on %s: %v", addr, err)
		}
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *StatusServer) Addr() string { return s.ln.Addr().String() }

// Close stops the server (a nil server is fine).
func (s *StatusServer) Close() {
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
}
