package main

// The contract both sides share: Echo returns its input. It is offered over
// both of go-plugin's transports, as a go-plugin user would write it:
// net/rpc (gob over a yamux stream) and gRPC (a protobuf message over HTTP/2).

import (
	"context"
	"net/rpc"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Echo is the interface the host calls.
type Echo interface {
	Echo(in []byte) ([]byte, error)
}

// handshake is go-plugin's magic cookie and protocol version.
var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "PLUGVISOR_BENCH_GOPLUGIN",
	MagicCookieValue: "echo",
}

type echoImpl struct{}

func (echoImpl) Echo(in []byte) ([]byte, error) { return in, nil }

// --- net/rpc

type echoRPCPlugin struct{ impl Echo }

func (p *echoRPCPlugin) Server(*plugin.MuxBroker) (interface{}, error) {
	return &echoRPCServer{impl: p.impl}, nil
}

func (*echoRPCPlugin) Client(_ *plugin.MuxBroker, c *rpc.Client) (interface{}, error) {
	return &echoRPCClient{client: c}, nil
}

type echoRPCServer struct{ impl Echo }

func (s *echoRPCServer) Echo(in []byte, out *[]byte) error {
	r, err := s.impl.Echo(in)
	*out = r
	return err
}

type echoRPCClient struct{ client *rpc.Client }

func (c *echoRPCClient) Echo(in []byte) ([]byte, error) {
	var out []byte
	err := c.client.Call("Plugin.Echo", in, &out)
	return out, err
}

// --- gRPC: the service protoc-gen-go-grpc would generate for
//
//	service Echo { rpc Echo(google.protobuf.BytesValue) returns (google.protobuf.BytesValue); }
//
// written out by hand (no protoc here), on the well-known BytesValue message.

type echoGRPCPlugin struct {
	plugin.Plugin // net/rpc side unused
	impl          Echo
}

func (p *echoGRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(&echoServiceDesc, echoGRPCServer{impl: p.impl})
	return nil
}

func (*echoGRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return &echoGRPCClient{conn: c}, nil
}

type echoGRPCServer struct{ impl Echo }

type echoServer interface {
	Echo(context.Context, *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error)
}

func (s echoGRPCServer) Echo(_ context.Context, in *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	out, err := s.impl.Echo(in.Value)
	if err != nil {
		return nil, err
	}
	return &wrapperspb.BytesValue{Value: out}, nil
}

func echoHandler(srv interface{}, ctx context.Context, dec func(interface{}) error, _ grpc.UnaryServerInterceptor) (interface{}, error) {
	in := new(wrapperspb.BytesValue)
	if err := dec(in); err != nil {
		return nil, err
	}
	return srv.(echoServer).Echo(ctx, in)
}

var echoServiceDesc = grpc.ServiceDesc{
	ServiceName: "plugvisor.bench.Echo",
	HandlerType: (*echoServer)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Echo", Handler: echoHandler}},
	Metadata:    "echo.proto",
}

type echoGRPCClient struct{ conn *grpc.ClientConn }

func (c *echoGRPCClient) Echo(in []byte) ([]byte, error) {
	out := new(wrapperspb.BytesValue)
	err := c.conn.Invoke(context.Background(), "/plugvisor.bench.Echo/Echo", &wrapperspb.BytesValue{Value: in}, out)
	return out.Value, err
}

// pluginSet is the same on both sides: one plugin, "echo", over the
// transport named (rpc or grpc).
func pluginSet(transport string, impl Echo) map[string]plugin.Plugin {
	if transport == "grpc" {
		return map[string]plugin.Plugin{"echo": &echoGRPCPlugin{impl: impl}}
	}
	return map[string]plugin.Plugin{"echo": &echoRPCPlugin{impl: impl}}
}
