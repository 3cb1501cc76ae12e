package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/metrics"
	"github.com/tinykv-lab/tinykv/kv/server"
	"github.com/tinykv-lab/tinykv/kv/storage"
	"github.com/tinykv-lab/tinykv/kv/storage/raft_storage"
	"github.com/tinykv-lab/tinykv/kv/storage/standalone_storage"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/tinykvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// gracefulStopTimeout bounds how long a stopping server waits for requests
// in flight (and, in raft mode, for streams between stores) before it cuts
// the connections.
const gracefulStopTimeout = 10 * time.Second

// schedulerRetryInterval is how often a store that starts before its
// scheduler tries to reach it again.
const schedulerRetryInterval = time.Second

// serve runs the store until SIGINT or SIGTERM, then stops it cleanly. It
// returns an error when the store cannot start or fails while running.
func serve(conf *config.Config) error {
	ctx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stopSignals()

	// The cheap checks first: a port in use or a bad data path fails at
	// once, before any wait for the scheduler.
	listener, err := net.Listen("tcp", conf.StoreAddr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %v", conf.StoreAddr, err)
	}
	if err := prepareDataDir(conf.DBPath); err != nil {
		listener.Close()
		return err
	}
	store, err := newStorage(ctx, conf)
	if err != nil {
		listener.Close()
		if errors.Is(err, context.Canceled) {
			log.Infof("signal received while waiting for the scheduler, stopping")
			return nil
		}
		return err
	}
	if err := startStorage(store, conf); err != nil {
		listener.Close()
		return err
	}

	stops := newStopper()
	grpcServer := grpc.NewServer(grpc.ChainStreamInterceptor(metrics.StreamInterceptor, stops.endStreamsOnStop),
		grpc.ChainUnaryInterceptor(stops.countRequests, metrics.UnaryInterceptor))
	statusServer, err := metrics.Serve(conf.StatusAddr)
	if err != nil {
		log.Warnf("no metrics: cannot listen on the status address %s (%v); give each store its own -status-addr", conf.StatusAddr, err)
	} else if statusServer != nil {
		log.Infof("metrics on http://%s/metrics", statusServer.Addr())
	}
	defer statusServer.Close()
	tinykvpb.RegisterTinyKvServer(grpcServer, server.NewServer(store))
	served := make(chan error, 1)
	go func() { served <- grpcServer.Serve(listener) }()
	mode := "standalone"
	if conf.Raft {
		mode = "raft store, scheduler " + conf.SchedulerAddr
	}
	log.Infof("tinykv-server listening on %s (%s), data in %s", listener.Addr(), mode, conf.DBPath)

	var runErr error
	select {
	case <-ctx.Done():
		stopSignals() // a second signal ends the process at once
		log.Infof("signal received, stopping (again to stop at once)")
	case err := <-served:
		runErr = fmt.Errorf("gRPC server failed: %v", err)
	}
	stops.stopGRPC(grpcServer, gracefulStopTimeout)
	if err := store.Stop(); err != nil && runErr == nil {
		runErr = fmt.Errorf("cannot close the storage in %s: %v", conf.DBPath, err)
	}
	if runErr == nil {
		log.Infof("tinykv-server stopped")
	}
	return runErr
}

// newStorage picks the storage the configuration asks for; it is not
// started. In raft mode it first connects to the scheduler, waiting until
// it is up or ctx ends.
func newStorage(ctx context.Context, conf *config.Config) (storage.Storage, error) {
	if !conf.Raft {
		return standalone_storage.NewStandAloneStorage(conf), nil
	}
	sched, err := connectScheduler(ctx, conf.SchedulerAddrs())
	if err != nil {
		return nil, err
	}
	return raft_storage.NewRaftStorage(conf, sched), nil
}

// startStorage starts store on the data directory. A store that failed to
// start is not stopped (the process ends; what it opened is released).
func startStorage(store storage.Storage, conf *config.Config) error {
	if err := store.Start(); err != nil {
		if strings.Contains(err.Error(), "cluster ID mismatch") {
			return fmt.Errorf("the data in %s belongs to another cluster than the one of the scheduler at %s (%v); "+
				"start this store with that cluster's scheduler, or give it an empty -path", conf.DBPath, conf.SchedulerAddr, err)
		}
		return fmt.Errorf("cannot open the storage in %s: %v", conf.DBPath, err)
	}
	return nil
}

// prepareDataDir creates the data directory when it is missing and makes
// sure it is a directory we can write to, so that a bad -path gets a plain
// message rather than one from deep inside badger.
func prepareDataDir(path string) error {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return fmt.Errorf("unusable data path %s: %v", path, err)
	}
	probe, err := os.CreateTemp(path, ".write-check-*")
	if err != nil {
		return fmt.Errorf("unusable data path %s: cannot write there: %v", path, err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// stopper stops the gRPC server in the order a store needs: the requests
// of clients first, while the streams between stores still carry the raft
// messages those requests wait for; then the streams.
type stopper struct {
	inflight atomic.Int64  // unary requests being served
	stopping chan struct{} // closed once the streams are to end
}

func newStopper() *stopper {
	return &stopper{stopping: make(chan struct{})}
}

func (st *stopper) countRequests(ctx context.Context, req interface{}, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (interface{}, error) {
	st.inflight.Add(1)
	defer st.inflight.Add(-1)
	return handler(ctx, req)
}

// endStreamsOnStop ends the streams that other stores keep open (raft
// messages, snapshots) once stopping is closed; they would otherwise hold
// a graceful stop forever. Raft tolerates the messages that are lost; a
// snapshot cut off is sent again.
func (st *stopper) endStreamsOnStop(srv interface{}, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	done := make(chan error, 1)
	go func() { done <- handler(srv, ss) }()
	select {
	case err := <-done:
		return err
	case <-st.stopping:
		return status.Errorf(codes.Unavailable, "%s: the store is stopping", info.FullMethod)
	}
}

// stopGRPC refuses new requests, lets those in flight finish (for at most
// timeout), ends the streams, then closes every connection.
func (st *stopper) stopGRPC(s *grpc.Server, timeout time.Duration) {
	stopped := make(chan struct{})
	go func() {
		s.GracefulStop()
		close(stopped)
	}()
	deadline := time.Now().Add(timeout)
	for st.inflight.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := st.inflight.Load(); n > 0 {
		log.Warnf("%d requests still running after %v, closing their connections", n, timeout)
	}
	close(st.stopping)
	select {
	case <-stopped:
	case <-time.After(time.Second):
		s.Stop()
		<-stopped
	}
}
