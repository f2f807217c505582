package onvif

import (
	"crypto/sha256"
	"net"
)

// StableMAC derives a MAC address from the node id, for a node that reports no real one:
// the same id gives the same address on every start (Home Assistant keys the camera on it),
// and the address is locally administered unicast (bits 1 and 0 of the first octet set to
// 1 and 0), so it can never be a vendor's.
func StableMAC(nodeID string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("camnode onvif mac\x00" + nodeID))
	mac := net.HardwareAddr(sum[:6:6])
	mac[0] = mac[0]&^0x01 | 0x02
	return mac
}
