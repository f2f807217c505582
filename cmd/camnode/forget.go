package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/camnode/camnode/config"
	"github.com/camnode/camnode/mqtt"
	"github.com/camnode/camnode/node"
)

const forgetUsage = `Usage: camnode forget [-node ID] [-purge] [-timeout 10s]

Makes Home Assistant forget a node: clears its retained discovery messages on the broker,
so the device and its entities disappear. The broker, its credentials and the prefixes come
from the same CAMNODE_* settings as camnode run. A node still running with
CAMNODE_HA_DISCOVERY=true publishes its discovery again at its next connect.

Flags:
`

// runForget is `camnode forget`: it publishes the empty retained messages of
// mqtt.DiscoveryRemoval (and with -purge the node's retained state topics too) and exits.
func runForget(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("camnode forget", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodeID := fs.String("node", "", "node ID to forget (default: CAMNODE_NODE_ID or the hostname)")
	purge := fs.Bool("purge", false, "also clear the node's retained availability, state, stream/state and danmaku/state (for a node that is gone for good)")
	timeout := fs.Duration("timeout", 10*time.Second, "give up when the broker has not acknowledged everything by then")
	fs.Usage = func() {
		fmt.Fprint(stderr, forgetUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "camnode forget: unexpected argument %q\n", fs.Arg(0))
		return 2
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
	brokerCfg := node.BrokerConfig(cfg, topics)
	// Only what the broker holds is cleared and counted: a node that never existed (a
	// misspelled -node) is said to have nothing, not "cleared 37 topics".
	found, err := mqtt.RetainedDiscovery(ctx, brokerCfg)
	if err != nil {
		fmt.Fprintf(stderr, "camnode forget: %s\n", config.Scrub(err.Error(), cfg.Secrets()))
		return 1
	}
	var msgs []mqtt.RetainedMessage
	for _, t := range found {
		msgs = append(msgs, mqtt.RetainedMessage{Topic: t})
	}
	if *purge {
		for _, t := range []string{topics.Availability, topics.State, topics.StreamState, topics.DanmakuState} {
			msgs = append(msgs, mqtt.RetainedMessage{Topic: t})
		}
	}
	broker := config.RedactURL(cfg.MQTTURL)
	if len(msgs) == 0 {
		fmt.Fprintf(stdout, "camnode forget: the broker holds no discovery of node %s (%s…) on %s: nothing to clear; is %q the node's ID (CAMNODE_NODE_ID, or -node)?\n",
			cfg.NodeID, mqtt.DiscoveryTopic(topics), broker, cfg.NodeID)
		return 0
	}
	if err := mqtt.PublishRetained(ctx, brokerCfg, msgs); err != nil {
		fmt.Fprintf(stderr, "camnode forget: %s\n", config.Scrub(err.Error(), cfg.Secrets()))
		return 1
	}
	device, older := false, 0
	for _, t := range found {
		if t == mqtt.DiscoveryTopic(topics) {
			device = true
		} else {
			older++
		}
	}
	var what []string
	if device {
		what = append(what, mqtt.DiscoveryTopic(topics))
	}
	if older > 0 {
		what = append(what, fmt.Sprintf("%d older per-entity discovery topics", older))
	}
	if *purge {
		what = append(what, "the retained state of "+topics.Base)
	}
	fmt.Fprintf(stdout, "camnode forget: cleared %s on %s\n", strings.Join(what, " and "), broker)
	return 0
}
