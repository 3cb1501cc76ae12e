package e2e

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"sync"
	"testing"
	"time"
)

// benchDuration is how long each phase (puts, then gets) of the cluster
// benchmark runs.
const benchDuration = 10 * time.Second

// BenchmarkClusterRawPutGet: 16 client goroutines put, then get, random
// keys through the client library against 3 servers (each region with 3
// replicas), each phase for benchDuration. One summary line. `make
// bench-cluster` runs it.
func BenchmarkClusterRawPutGet(b *testing.B) {
	const clients, keySpace = 16, 100000
	tc := startCluster(b, options{stores: 3})
	tc.waitReplicas(3, 2*time.Minute)
	value := make([]byte, 100)
	phase := func(name string, op func(c context.Context, rng *rand.Rand) error) string {
		var mu sync.Mutex
		var lat []time.Duration
		var wg sync.WaitGroup
		deadline := time.Now().Add(benchDuration)
		var failed error
		for g := 0; g < clients; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				rng := rand.New(rand.NewSource(int64(g)))
				var mine []time.Duration
				for time.Now().Before(deadline) {
					start := time.Now()
					if err := op(context.Background(), rng); err != nil {
						mu.Lock()
						failed = err
						mu.Unlock()
						return
					}
					mine = append(mine, time.Since(start))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}(g)
		}
		wg.Wait()
		if failed != nil {
			b.Fatalf("%s: %v", name, failed)
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))].Round(10 * time.Microsecond) }
		return fmt.Sprintf("%s %.0f ops/s (p50 %v, p99 %v)", name, float64(len(lat))/benchDuration.Seconds(), pct(0.5), pct(0.99))
	}
	b.ResetTimer()
	puts := phase("put", func(c context.Context, rng *rand.Rand) error {
		return tc.kv.Put(c, []byte(fmt.Sprintf("bench-%06d", rng.Intn(keySpace))), value)
	})
	gets := phase("get", func(c context.Context, rng *rand.Rand) error {
		_, err := tc.kv.Get(c, []byte(fmt.Sprintf("bench-%06d", rng.Intn(keySpace))))
		if err != nil && !isNotFound(err) {
			return err
		}
		return nil
	})
	b.StopTimer()
	fmt.Printf("bench-cluster: 3 servers, %d client goroutines, 100-byte values: %s; %s\n", clients, puts, gets)
}
