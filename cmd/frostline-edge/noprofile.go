//go:build !profile

package main

// startProfile does nothing in a release build (see profile.go).
func startProfile() (stop func(), err error) { return func() {}, nil }
