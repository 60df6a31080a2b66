package models_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/standinghq/standing/models"
)

func TestIsUnavailable(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		err  error
		want bool
	}{
		"nil":                 {nil, false},
		"not found":           {gorm.ErrRecordNotFound, false},
		"unique violation":    {&pgconn.PgError{Code: "23505"}, false},
		"syntax error":        {&pgconn.PgError{Code: "42601"}, false},
		"store conflict":      {models.ErrConflict, false},
		"bad conn":            {fmt.Errorf("query: %w", driver.ErrBadConn), true},
		"conn done":           {sql.ErrConnDone, true},
		"deadline":            {fmt.Errorf("begin: %w", context.DeadlineExceeded), true},
		"refused":             {&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		"reset":               {fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		"admin shutdown":      {&pgconn.PgError{Code: "57P01"}, true},
		"crash shutdown":      {&pgconn.PgError{Code: "57P02"}, true},
		"cannot connect now":  {&pgconn.PgError{Code: "57P03"}, true},
		"connection failure":  {&pgconn.PgError{Code: "08006"}, true},
		"too many clients":    {&pgconn.PgError{Code: "53300"}, true},
		"message only":        {errors.New("failed to connect to `host=db`: dial error"), true},
		"sqlite busy":         {errors.New("database is locked (5) (SQLITE_BUSY)"), true},
		"already unavailable": {models.ErrUnavailable, true},
	}
	for name, c := range cases {
		require.Equal(t, c.want, models.IsUnavailable(c.err), name)
		classified := models.Classify(c.err)
		require.Equal(t, c.want, errors.Is(classified, models.ErrUnavailable), name)
		if c.err != nil {
			require.ErrorIs(t, classified, c.err, "%s: the cause stays in the chain", name)
		}
	}
}

func TestStoreReportsAnUnreachableDatabaseAsUnavailable(t *testing.T) {
	t.Parallel()
	// A real connect error: nothing listens on the port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	_, err = models.Open(context.Background(), "postgres://postgres@"+addr+"/x?sslmode=disable")
	require.Error(t, err)
	require.True(t, models.IsUnavailable(err), "%v", err)
}
