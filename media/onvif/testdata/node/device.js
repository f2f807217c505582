// Connects to an ONVIF device with node-onvif, as its users' camera managers do: init()
// reads the clock, the capabilities, the device information, the profiles and their stream
// and snapshot URIs (signed with a WS-UsernameToken digest), then fetches the snapshot.
// Prints what it got as JSON. Usage: node device.js XADDR USER PASSWORD
'use strict';
const onvif = require('node-onvif');

const [xaddr, user, pass] = process.argv.slice(2);
const device = new onvif.OnvifDevice({ xaddr, user, pass });
device.init().then((info) => {
  const profile = device.getCurrentProfile();
  return device.fetchSnapshot().then((snap) => ({ info, profile, snapshotBytes: snap.body.length, snapshotType: snap.headers['content-type'] }));
}).then((res) => {
  process.stdout.write(JSON.stringify(res) + '\n');
  process.exit(0);
}).catch((err) => {
  process.stderr.write('device: ' + (err && err.stack || err) + '\n');
  process.exit(1);
});
