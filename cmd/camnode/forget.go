package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/camnode/camnode/config"
	"github.com/camnode/camnode/mqtt"
	"github.com/camnode/camnode/node"
)

const forgetUsage = `Usage: camnode forget [-node ID] [-purge] [-timeout 10s]

Makes Home Assistant forget a node: clears its retained discovery messages on the broker,
so the device and its entities disappear, and says which topics it found. The broker, its credentials and the prefixes come
from the same CAMNODE_* settings as camnode run. A node still running with
CAMNODE_HA_DISCOVERY=true publishes its discovery again at its next connect.

Flags:
`

// runForget is `camnode forget`: it asks the broker which retained discovery topics of the
// node it holds (with -purge also every retained topic under the node's base topic), clears
// exactly those with empty retained messages, says which, and exits.
func runForget(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("camnode forget", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodeID := fs.String("node", "", "node ID to forget (default: CAMNODE_NODE_ID or the hostname)")
	purge := fs.Bool("purge", false, "also clear every retained topic of the node: availability, state, stream/desired, snapshot, snapshot/info... (for a node that is gone for good)")
	timeout := fs.Duration("timeout", 10*time.Second, "give up when the broker has not acknowledged everything by then")
	fs.Usage = func() {
		fmt.Fprint(stderr, forgetUsage)
		fs.PrintDefaults()
	}
	if code, ok := parseCommand(fs, args, stderr); !ok {
		return code
	}
	cfg, code := loadConfig(stderr)
	if cfg == nil {
		return code
	}
	if *nodeID != "" {
		cfg.NodeID = *nodeID
		if err := cfg.Validate(); err != nil {
			fmt.Fprintf(stderr, "camnode forget: -node: %v\n", err)
			return 2
		}
	}
	topics := mqtt.NewTopics(cfg.MQTTTopicPrefix, cfg.NodeID, cfg.HADiscoveryPrefix)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	broker := node.BrokerConfig(cfg, topics)
	found, err := mqtt.NodeRetained(ctx, broker, *purge)
	if err == nil && len(found) > 0 {
		msgs := make([]mqtt.RetainedMessage, len(found))
		for i, t := range found {
			msgs[i] = mqtt.RetainedMessage{Topic: t}
		}
		err = mqtt.PublishRetained(ctx, broker, msgs)
	}
	if err != nil {
		fmt.Fprintf(stderr, "camnode forget: %s\n", config.Scrub(err.Error(), cfg.Secrets()))
		return 1
	}
	what := "discovery"
	if *purge {
		what = "discovery or state"
	}
	if len(found) == 0 {
		fmt.Fprintf(stdout, "camnode forget: %s holds no retained %s of node %s; nothing to clear\n", config.RedactURL(cfg.MQTTURL), what, cfg.NodeID)
		return 0
	}
	plural := "s"
	if len(found) == 1 {
		plural = ""
	}
	fmt.Fprintf(stdout, "camnode forget: cleared %d retained topic%s of node %s on %s:\n", len(found), plural, cfg.NodeID, config.RedactURL(cfg.MQTTURL))
	for _, t := range found {
		fmt.Fprintf(stdout, "  %s\n", t)
	}
	return 0
}
