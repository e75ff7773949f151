package etcdnode

import (
	"context"
	"net"
	"testing"
)

// TestRefused: a closed port is refused (a dead process); a listening one
// is not, nor is a host that does not answer in time or a bad URL.
func TestRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := "https://" + ln.Addr().String()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "https://" + closed.Addr().String()
	closed.Close()
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a dial that is not refused at once counts as alive
	for _, c := range []struct {
		urls []string
		ctx  context.Context
		want bool
	}{
		{[]string{gone}, context.Background(), true},
		{[]string{open}, context.Background(), false},
		{[]string{gone, open}, context.Background(), false},
		{[]string{"https://192.0.2.1:2380"}, ctx, false}, // TEST-NET: never answers
		{[]string{"::bad"}, context.Background(), false},
		{nil, context.Background(), false},
	} {
		if got := refused(c.ctx, c.urls); got != c.want {
			t.Errorf("refused(%v) = %v, want %v", c.urls, got, c.want)
		}
	}
}
