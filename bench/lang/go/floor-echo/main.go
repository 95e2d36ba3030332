// bench floor-echo (Go): the least a Go plugin's call can cost. The wire of
// bench-floor-server (bench/floor_wire.hpp): a 4-byte little-endian length
// and that many bytes, echoed back in one write; a goroutine per connection,
// as net/http has. Usage: floor-echo unix PATH; prints PATH, serves until
// stdin reaches end of file.
package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
)

func serve(conn net.Conn) {
	defer conn.Close()
	buffer := make([]byte, 64*1024)
	for {
		if _, err := io.ReadFull(conn, buffer[:4]); err != nil {
			return
		}
		want := 4 + int(binary.LittleEndian.Uint32(buffer[:4]))
		if want > len(buffer) {
			grown := make([]byte, want)
			copy(grown, buffer[:4])
			buffer = grown
		}
		if _, err := io.ReadFull(conn, buffer[4:want]); err != nil {
			return
		}
		if _, err := conn.Write(buffer[:want]); err != nil {
			return
		}
	}
}

func main() {
	if len(os.Args) != 3 || os.Args[1] != "unix" {
		fmt.Fprintln(os.Stderr, "usage: floor-echo unix PATH")
		os.Exit(2)
	}
	path := os.Args[2]
	os.Remove(path)
	listener, err := net.Listen("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor-echo:", err)
		os.Exit(1)
	}
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			go serve(conn)
		}
	}()
	fmt.Println(path)
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}
