package e2e

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/golang/protobuf/proto"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// rawCodec passes gRPC messages through as bytes (a *[]byte each way).
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }

func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}

// Name keeps the content type of protobuf, which the scheduler expects.
func (rawCodec) Name() string { return "proto" }

// bootstrapHook decides about one Bootstrap call at the proxy. before sees
// the request and may refuse it (a non-nil error is the answer, the
// scheduler never hears of it); when it does not, after sees how the
// scheduler answered (its response, or the error of the call) before the
// caller does.
type bootstrapHook interface {
	before(req *schedulerpb.BootstrapRequest) error
	after(req *schedulerpb.BootstrapRequest, resp *schedulerpb.BootstrapResponse, err error)
}

// schedulerProxy stands between the stores and a scheduler on a loopback
// port of its own. It forwards every call as it is, except that GetMembers
// answers name the proxy as every member (so the callers keep coming
// through it) and Bootstrap calls go through a hook.
type schedulerProxy struct {
	Addr   string
	target *grpc.ClientConn
	server *grpc.Server
	hook   bootstrapHook
	wg     sync.WaitGroup
}

const (
	methodGetMembers = "/schedulerpb.Scheduler/GetMembers"
	methodBootstrap  = "/schedulerpb.Scheduler/Bootstrap"
)

// startSchedulerProxy forwards to the scheduler at target until the test ends.
func startSchedulerProxy(t *testing.T, target string, hook bootstrapHook) *schedulerProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	p := &schedulerProxy{Addr: l.Addr().String(), target: conn, hook: hook}
	p.server = grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(p.forward))
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.server.Serve(l)
	}()
	t.Cleanup(func() {
		p.server.Stop()
		p.wg.Wait()
		conn.Close()
	})
	return p
}

// forward relays one call of any kind (unary or streaming) to the target.
func (p *schedulerProxy) forward(_ any, in grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(in)
	md, _ := metadata.FromIncomingContext(in.Context())
	ctx := metadata.NewOutgoingContext(in.Context(), md.Copy())
	switch method {
	case methodGetMembers:
		return p.getMembers(ctx, in)
	case methodBootstrap:
		return p.bootstrap(ctx, in)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out, err := grpc.NewClientStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, p.target, method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return err
	}
	go func() {
		for {
			var msg []byte
			if err := in.RecvMsg(&msg); err != nil {
				if err == io.EOF {
					out.CloseSend()
				} else {
					cancel()
				}
				return
			}
			if err := out.SendMsg(&msg); err != nil {
				return
			}
		}
	}()
	for {
		var msg []byte
		if err := out.RecvMsg(&msg); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if err := in.SendMsg(&msg); err != nil {
			return err
		}
	}
}

// unary relays one unary call, letting edit change the answer.
func (p *schedulerProxy) unary(ctx context.Context, in grpc.ServerStream, method string, req []byte, edit func([]byte) ([]byte, error)) error {
	var resp []byte
	if err := p.target.Invoke(ctx, method, &req, &resp, grpc.ForceCodec(rawCodec{})); err != nil {
		return err
	}
	resp, err := edit(resp)
	if err != nil {
		return err
	}
	return in.SendMsg(&resp)
}

func (p *schedulerProxy) getMembers(ctx context.Context, in grpc.ServerStream) error {
	var req []byte
	if err := in.RecvMsg(&req); err != nil {
		return err
	}
	return p.unary(ctx, in, methodGetMembers, req, func(data []byte) ([]byte, error) {
		var resp schedulerpb.GetMembersResponse
		if err := proto.Unmarshal(data, &resp); err != nil {
			return nil, err
		}
		here := []string{"http://" + p.Addr}
		for _, m := range append(resp.Members, resp.Leader, resp.EtcdLeader) {
			if m != nil {
				m.ClientUrls = here
			}
		}
		return proto.Marshal(&resp)
	})
}

func (p *schedulerProxy) bootstrap(ctx context.Context, in grpc.ServerStream) error {
	var data []byte
	if err := in.RecvMsg(&data); err != nil {
		return err
	}
	var req schedulerpb.BootstrapRequest
	if err := proto.Unmarshal(data, &req); err != nil {
		return err
	}
	if err := p.hook.before(&req); err != nil {
		return err
	}
	var answer []byte
	var resp schedulerpb.BootstrapResponse
	err := p.target.Invoke(ctx, methodBootstrap, &data, &answer, grpc.ForceCodec(rawCodec{}))
	if err == nil {
		err = proto.Unmarshal(answer, &resp)
	}
	p.hook.after(&req, &resp, err)
	if err != nil {
		return err
	}
	return in.SendMsg(&answer)
}
