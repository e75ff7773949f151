package api

import "encoding/base64"

// Page tokens are the last key of the previous page, opaque to clients.
func encodeToken(after string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("a:" + after))
}

func decodeToken(tok string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 2 || string(b[:2]) != "a:" {
		return "", errBadToken
	}
	return string(b[2:]), nil
}

type tokenError struct{}

func (tokenError) Error() string { return "bad page token" }

var errBadToken error = tokenError{}
