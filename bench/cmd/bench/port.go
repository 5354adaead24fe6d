package main

import "net"

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 14299
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
