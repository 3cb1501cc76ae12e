package test_raftstore

import (
	"testing"
)

// Project 2B: a fault-tolerant key-value store on Raft. Each test runs the
// generic driver (see driver_test.go) over five stores.

func TestClusterBasic2B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 1})
}

func TestClusterConcurrent2B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5})
}

func TestClusterUnreliable2B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, unreliable: true})
}

func TestClusterManyPartitionsOneClient2B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 1, partitions: true})
}

func TestClusterManyPartitionsManyClients2B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, partitions: true})
}

func TestClusterPersistOneClient2B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 1, crash: true})
}

func TestClusterPersistConcurrent2B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, crash: true})
}

func TestClusterPersistConcurrentUnreliable2B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, unreliable: true, crash: true})
}

func TestClusterPersistPartition2B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, partitions: true, crash: true})
}

func TestClusterPersistPartitionUnreliable2B(t *testing.T) {
	runGenericScenario(t, scenario{clients: 5, unreliable: true, partitions: true, crash: true})
}
