package main

import (
	"context"

	"github.com/tinykv-lab/tinykv/scheduler/client"
)

// connect connects to the scheduler at addr; calls retry until the
// command's deadline.
func connect(ctx context.Context, addr string) (Admin, error) {
	return client.New([]string{addr}, client.Options{})
}
