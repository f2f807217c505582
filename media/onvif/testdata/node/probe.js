// Probes for ONVIF devices with node-onvif (WS-Discovery multicast on 239.255.255.250:3702,
// the same probe its users' camera managers send) and prints what it found as JSON.
'use strict';
const onvif = require('node-onvif');

onvif.startProbe().then((devices) => {
  process.stdout.write(JSON.stringify(devices) + '\n');
  process.exit(0);
}).catch((err) => {
  process.stderr.write('probe: ' + err + '\n');
  process.exit(1);
});
