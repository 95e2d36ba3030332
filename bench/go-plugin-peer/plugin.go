package main

import (
	"io/ioutil"
	"log"
	"math"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// servePlugin serves the echo over `transport` (rpc or grpc) until the host
// kills it. go-plugin serves one transport per plugin set (the first
// plugin's kind decides), so the host names it on the command line.
// Messages of 16 MiB need gRPC's 4 MiB default receive limit raised on the
// server (go-plugin raises it on the client).
func servePlugin(transport string) {
	log.SetOutput(ioutil.Discard)
	config := &plugin.ServeConfig{
		HandshakeConfig: handshake,
		Plugins:         pluginSet(transport, echoImpl{}),
		Logger:          hclog.NewNullLogger(),
	}
	if transport == "grpc" {
		config.GRPCServer = func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(math.MaxInt32), grpc.MaxSendMsgSize(math.MaxInt32))
			return grpc.NewServer(opts...)
		}
	}
	plugin.Serve(config)
}
