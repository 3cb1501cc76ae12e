package server

import (
	"context"
	"net/http"

	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/scheduler/server/schedule"
)

// SetHTTPHandlers adds handlers (path pattern → handler) to the HTTP mux of
// the client URL, next to etcd's own (/metrics, /health, /v3/). It must be
// called before Run.
func (s *Server) SetHTTPHandlers(h map[string]http.Handler) { s.httpHandlers = h }

// Ready reports whether the member has joined its cluster and knows the
// cluster id.
func (s *Server) Ready() bool { return s.ready.Load() }

// GetRaftCluster returns the cluster this member serves: nil unless it
// leads and the cluster is bootstrapped.
func (s *Server) GetRaftCluster() *RaftCluster {
	l := s.getLeadership()
	if l == nil {
		return nil
	}
	return l.getCluster()
}

// Member is this member as GetMembers names it (nil before Run succeeds).
func (s *Server) Member() *schedulerpb.Member { return s.member }

// Members lists the etcd members of the scheduler's cluster.
func (s *Server) Members() []*schedulerpb.Member {
	var out []*schedulerpb.Member
	for _, m := range s.etcd.Server.Cluster().Members() {
		out = append(out, &schedulerpb.Member{Name: m.Name, MemberId: uint64(m.ID), PeerUrls: m.PeerURLs, ClientUrls: m.ClientURLs})
	}
	return out
}

// LeaderMember reads which member leads now (nil when none does).
func (s *Server) LeaderMember(ctx context.Context) (*schedulerpb.Member, error) {
	return s.leaderMember(ctx)
}

// GetOperatorController returns the cluster's operators (nil before the
// cluster starts scheduling).
func (c *RaftCluster) GetOperatorController() *schedule.OperatorController {
	if c.coord == nil {
		return nil
	}
	return c.coord.GetOperatorController()
}
