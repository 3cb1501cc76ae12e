package main

import (
	"context"
	"errors"

	"github.com/tinykv-lab/tinykv/kv/cluster/local"
)

type scheduler interface {
	local.RegionScanner
	Close()
}

// connect connects to the scheduler at addr.
func connect(ctx context.Context, addr string) (scheduler, error) {
	return nil, errors.New("the scheduler's gRPC client (scheduler/client) has not landed yet")
}
