package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/serverless-chat/chat/internal/gateway"
	"github.com/serverless-chat/chat/local/samtemplate"
)

// stageSettings is what the adapter takes from the template's WebSocket
// API stage today: its throttling, so that a change to template.yaml is a
// change to what runs locally.
type stageSettings struct {
	throttle       *gateway.Throttle
	routeThrottles map[string]gateway.Throttle
	variables      map[string]string
}

// loadStage reads the stage of the template at cfg.templatePath. A missing
// template is no error when the path is the default one (the adapter may
// run from another directory): the stage is then unthrottled, and the
// adapter says so.
func loadStage(cfg config, addr string, log *slog.Logger) (stageSettings, error) {
	var s stageSettings
	if cfg.templatePath == "" {
		return s, nil
	}
	params, err := samtemplate.ParseParameterOverrides(cfg.parameterOverrides)
	if err != nil {
		return s, fmt.Errorf("-parameter-overrides: %w", err)
	}
	tpl, err := samtemplate.Load(cfg.templatePath, samtemplate.Options{
		Parameters: params, Region: cfg.region,
		Resource: func(id, typ, attr string) (string, bool) {
			// The page is this adapter's own.
			if typ == "AWS::CloudFront::Distribution" && attr == "DomainName" {
				return addr, true
			}
			return "", false
		},
	})
	switch {
	case errors.Is(err, fs.ErrNotExist) && !cfg.templateSet:
		log.Info("no template: the stage is not throttled", slog.String("template", cfg.templatePath))
		return s, nil
	case err != nil:
		return s, err
	case len(tpl.APIs) != 1:
		return s, fmt.Errorf("%s: %d WebSocket APIs, want one", cfg.templatePath, len(tpl.APIs))
	}
	for _, w := range tpl.Warnings {
		log.Warn("template", slog.String("warning", w))
	}
	st := tpl.APIs[0].Stage
	if st.HasThrottle {
		s.throttle = &gateway.Throttle{RateLimit: st.RateLimit, BurstLimit: st.BurstLimit}
	}
	if len(st.RouteThrottle) > 0 {
		s.routeThrottles = map[string]gateway.Throttle{}
		for k, v := range st.RouteThrottle {
			s.routeThrottles[k] = gateway.Throttle{RateLimit: v.RateLimit, BurstLimit: v.BurstLimit}
		}
	}
	s.variables = st.Variables
	log.Info("stage from the template", slog.String("template", cfg.templatePath), slog.String("stage", st.Name),
		slog.Float64("throttlingRateLimit", st.RateLimit), slog.Int("throttlingBurstLimit", st.BurstLimit))
	return s, nil
}
