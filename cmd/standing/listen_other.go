//go:build !linux

package main

import "net"

// listenShared listens on addr (several processes cannot share it on this system).
func listenShared(network, addr string) (net.Listener, error) { return net.Listen(network, addr) }
