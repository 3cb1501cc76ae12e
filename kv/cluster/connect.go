package main

import (
	"context"

	"github.com/tinykv-lab/tinykv/kv/cluster/local"
	"github.com/tinykv-lab/tinykv/scheduler/client"
)

type scheduler interface {
	local.RegionScanner
	Close()
}

// connect connects to the scheduler at addr.
func connect(ctx context.Context, addr string) (scheduler, error) {
	return client.New([]string{addr}, client.Options{})
}
