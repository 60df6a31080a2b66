//go:build !linux

package main

import "net"

// listen listens on addr (several processes cannot share it on this system).
func listen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
