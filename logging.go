package main

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	sloggokit "github.com/tjhop/slog-gokit"
)

// logConfig holds the --log.* flags.
type logConfig struct {
	level  string
	format string
}

func addLogFlags(app *kingpin.Application) *logConfig {
	cfg := &logConfig{}
	app.Flag("log.level", "Only log messages with the given severity or above. One of: [debug, info, warn, error].").
		Default("info").EnumVar(&cfg.level, "debug", "info", "warn", "error")
	app.Flag("log.format", "Output format of log messages. One of: [logfmt, json].").
		Default("logfmt").EnumVar(&cfg.format, "logfmt", "json")
	return cfg
}

// newLogger returns a go-kit logger writing to w, filtered to the configured
// level. Its records carry a UTC timestamp and the caller.
func (c *logConfig) newLogger(w io.Writer) log.Logger {
	return log.With(c.filtered(w), "ts", log.TimestampFormat(utcNow, time.RFC3339Nano), "caller", log.DefaultCaller)
}

// filtered returns the plain, level-filtered go-kit logger writing to w.
func (c *logConfig) filtered(w io.Writer) log.Logger {
	var logger log.Logger
	if c.format == "json" {
		logger = log.NewJSONLogger(log.NewSyncWriter(w))
	} else {
		logger = log.NewLogfmtLogger(log.NewSyncWriter(w))
	}
	return level.NewFilter(logger, level.Allow(level.ParseDefault(c.level, level.InfoValue())))
}

func utcNow() time.Time {
	return time.Now().UTC()
}

// slogLevel is the slog level matching the configured go-kit level, for the
// libraries that take an slog logger.
func (c *logConfig) slogLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.level)); err != nil {
		panic(fmt.Sprintf("log level %q passed the flag check but is not an slog level", c.level))
	}
	return l
}

// newSlogLogger returns an slog logger for the libraries that take one. It
// writes through go-kit to w, so that all output keeps one format; the bridge
// adds the time and caller itself.
func (c *logConfig) newSlogLogger(w io.Writer) *slog.Logger {
	return slog.New(sloggokit.NewGoKitHandler(c.filtered(w), c.slogLevel()))
}
