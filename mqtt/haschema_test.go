package mqtt

// A schema check of Home Assistant MQTT discovery payloads, written from the Home Assistant
// documentation: the integration pages switch.mqtt, sensor.mqtt, binary_sensor.mqtt,
// button.mqtt, text.mqtt, event.mqtt and image.mqtt (their "configuration" key lists: name, type, required, allowed
// values), the MQTT page's "Device discovery payload", "Discovery payload" (origin) and
// "Supported abbreviations" sections, and the sensor/binary_sensor/button/switch pages'
// device-class lists. Home Assistant itself ignores unknown keys ("unknown configuration
// keys are allowed but ignored"), so a misspelled key would fail silently there; here it
// fails the test.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

type valueKind int

const (
	kChecked valueKind = iota // checked by its own function (device, origin, components, identifiers)
	kString
	kTemplate // a string holding a Jinja template
	kTopic    // a topic to subscribe or publish to
	kBool
	kInt
	kIcon   // "mdi:name"
	kList   // a list of strings (options)
	kAvail  // the availability list
	kEntity // default_entity_id: "<platform>.<object id>"
)

type keySpec struct {
	kind     valueKind
	required bool
	enum     []string // allowed values of a string
}

// Options every MQTT entity platform page lists (availability, naming, registry), less
// device and origin, which device-based discovery allows only at the root ("These mappings
// are mandatory and cannot be overridden at the entity/component level"). object_id is
// missing on purpose: deprecated in favour of default_entity_id.
var entityCommon = map[string]keySpec{
	"availability":             {kind: kAvail},
	"availability_mode":        {kind: kString, enum: []string{"all", "any", "latest"}},
	"availability_template":    {kind: kTemplate},
	"availability_topic":       {kind: kTopic},
	"default_entity_id":        {kind: kEntity},
	"enabled_by_default":       {kind: kBool},
	"encoding":                 {kind: kString},
	"entity_category":          {kind: kString, enum: []string{"config", "diagnostic"}},
	"entity_picture":           {kind: kString},
	"icon":                     {kind: kIcon},
	"json_attributes_template": {kind: kTemplate},
	"json_attributes_topic":    {kind: kTopic},
	"name":                     {kind: kString},
	"payload_available":        {kind: kString},
	"payload_not_available":    {kind: kString},
	"platform":                 {kind: kString, required: true},
	"qos":                      {kind: kInt},
	// "Required when used with device-based discovery."
	"unique_id": {kind: kString, required: true},
}

// Device classes from each platform's page.
var (
	switchClasses = []string{"outlet", "switch"}
	buttonClasses = []string{"identify", "restart", "update"}
	eventClasses  = []string{"button", "doorbell", "motion"}
	binaryClasses = []string{"battery", "battery_charging", "carbon_monoxide", "cold", "connectivity",
		"door", "garage_door", "gas", "heat", "light", "lock", "moisture", "motion", "moving",
		"occupancy", "opening", "plug", "power", "presence", "problem", "running", "safety", "smoke",
		"sound", "tamper", "update", "vibration", "window"}
	sensorClasses = []string{"apparent_power", "aqi", "area", "atmospheric_pressure", "battery",
		"blood_glucose_concentration", "carbon_dioxide", "carbon_monoxide", "current", "data_rate",
		"data_size", "date", "distance", "duration", "energy", "energy_storage", "enum", "frequency",
		"gas", "humidity", "illuminance", "irradiance", "moisture", "monetary", "nitrogen_dioxide",
		"nitrogen_monoxide", "nitrous_oxide", "ozone", "ph", "pm1", "pm25", "pm10", "power_factor",
		"power", "precipitation", "precipitation_intensity", "pressure", "reactive_power",
		"signal_strength", "sound_pressure", "speed", "sulphur_dioxide", "temperature", "timestamp",
		"volatile_organic_compounds", "volatile_organic_compounds_parts", "voltage", "volume",
		"volume_flow_rate", "volume_storage", "water", "weight", "wind_speed"}
	stateClasses = []string{"measurement", "measurement_angle", "total", "total_increasing"}
)

// sensorUnits are the units the sensor page allows with the device classes camnode could
// use. A device class missing here fails the check: add its line from the page first.
var sensorUnits = map[string][]string{
	"data_rate":   {"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "B/s", "kB/s", "MB/s", "GB/s", "KiB/s", "MiB/s", "GiB/s"},
	"data_size":   {"bit", "kbit", "Mbit", "Gbit", "B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"},
	"duration":    {"d", "h", "min", "s", "ms"},
	"temperature": {"°C", "°F", "K"},
	"frequency":   {"Hz", "kHz", "MHz", "GHz"},
	"enum":        nil, // no unit
	"timestamp":   nil,
	"date":        nil,
}

// sensorStateClasses are the state classes Home Assistant accepts with a device class
// (the developer documentation's table); enum, date and timestamp take none.
var sensorStateClasses = map[string][]string{
	"data_rate":   {"measurement"},
	"data_size":   stateClasses,
	"duration":    stateClasses,
	"temperature": {"measurement"},
	"frequency":   {"measurement"},
	"enum":        nil,
	"timestamp":   nil,
	"date":        nil,
}

func platformKeys(extra map[string]keySpec) map[string]keySpec {
	m := make(map[string]keySpec, len(entityCommon)+len(extra))
	for k, v := range entityCommon {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// platformSchemas: the configuration keys of each platform page.
var platformSchemas = map[string]map[string]keySpec{
	"switch": platformKeys(map[string]keySpec{
		"command_template": {kind: kTemplate},
		"command_topic":    {kind: kTopic, required: true},
		"device_class":     {kind: kString, enum: switchClasses},
		"optimistic":       {kind: kBool},
		"payload_off":      {kind: kString},
		"payload_on":       {kind: kString},
		"retain":           {kind: kBool},
		"state_off":        {kind: kString},
		"state_on":         {kind: kString},
		"state_topic":      {kind: kTopic},
		"value_template":   {kind: kTemplate},
	}),
	"sensor": platformKeys(map[string]keySpec{
		"device_class":                {kind: kString, enum: sensorClasses},
		"expire_after":                {kind: kInt},
		"force_update":                {kind: kBool},
		"last_reset_value_template":   {kind: kTemplate},
		"options":                     {kind: kList},
		"suggested_display_precision": {kind: kInt},
		"state_class":                 {kind: kString, enum: stateClasses},
		"state_topic":                 {kind: kTopic, required: true},
		"unit_of_measurement":         {kind: kString},
		"value_template":              {kind: kTemplate},
	}),
	"binary_sensor": platformKeys(map[string]keySpec{
		"device_class":   {kind: kString, enum: binaryClasses},
		"expire_after":   {kind: kInt},
		"force_update":   {kind: kBool},
		"off_delay":      {kind: kInt},
		"payload_off":    {kind: kString},
		"payload_on":     {kind: kString},
		"state_topic":    {kind: kTopic, required: true},
		"value_template": {kind: kTemplate},
	}),
	"button": platformKeys(map[string]keySpec{
		"command_template": {kind: kTemplate},
		"command_topic":    {kind: kTopic, required: true},
		"device_class":     {kind: kString, enum: buttonClasses},
		"payload_press":    {kind: kString},
		"retain":           {kind: kBool},
	}),
	// The text page's key list has no icon, but its own example sets one, and the common
	// entity schema carries it.
	"text": platformKeys(map[string]keySpec{
		"command_template": {kind: kTemplate},
		"command_topic":    {kind: kTopic, required: true},
		"max":              {kind: kInt},
		"min":              {kind: kInt},
		"mode":             {kind: kString, enum: []string{"text", "password"}},
		"pattern":          {kind: kString},
		"retain":           {kind: kBool},
		"state_topic":      {kind: kTopic},
		"value_template":   {kind: kTemplate},
	}),
}

func init() {
	// event.mqtt: the payload (after value_template) is JSON with an event_type that must
	// be one of event_types.
	platformSchemas["event"] = platformKeys(map[string]keySpec{
		"device_class":   {kind: kString, enum: eventClasses},
		"event_types":    {kind: kList, required: true},
		"state_topic":    {kind: kTopic, required: true},
		"value_template": {kind: kTemplate},
	})
	// image.mqtt: image_topic (the raw image) or url_topic, exactly one.
	platformSchemas["image"] = platformKeys(map[string]keySpec{
		"content_type":   {kind: kString, enum: []string{"image/jpeg", "image/png", "image/gif", "image/webp"}},
		"image_encoding": {kind: kString, enum: []string{"b64"}},
		"image_topic":    {kind: kTopic},
		"url_template":   {kind: kTemplate},
		"url_topic":      {kind: kTopic},
	})
}

// Root of a device discovery payload: device, origin, components, and the shared options
// ("availability options, origin, command_topic, state_topic, qos, encoding").
var rootKeys = map[string]keySpec{
	"device":                {kind: kChecked, required: true},
	"origin":                {kind: kChecked, required: true},
	"components":            {kind: kChecked, required: true},
	"availability":          {kind: kAvail},
	"availability_mode":     {kind: kString, enum: []string{"all", "any", "latest"}},
	"availability_template": {kind: kTemplate},
	"availability_topic":    {kind: kTopic},
	"payload_available":     {kind: kString},
	"payload_not_available": {kind: kString},
	"command_topic":         {kind: kTopic},
	"state_topic":           {kind: kTopic},
	"qos":                   {kind: kInt},
	"encoding":              {kind: kString},
}

var deviceKeys = map[string]keySpec{
	"configuration_url": {kind: kString},
	"connections":       {kind: kChecked},
	"hw_version":        {kind: kString},
	"identifiers":       {kind: kChecked},
	"manufacturer":      {kind: kString},
	"model":             {kind: kString},
	"model_id":          {kind: kString},
	"name":              {kind: kString},
	"serial_number":     {kind: kString},
	"suggested_area":    {kind: kString},
	"sw_version":        {kind: kString},
	"via_device":        {kind: kString},
}

var originKeys = map[string]keySpec{
	"name":        {kind: kString, required: true},
	"sw_version":  {kind: kString},
	"support_url": {kind: kString},
}

var availabilityKeys = map[string]keySpec{
	"topic":                 {kind: kTopic, required: true},
	"payload_available":     {kind: kString},
	"payload_not_available": {kind: kString},
	"value_template":        {kind: kTemplate},
}

// Abbreviations from the MQTT page, for the keys of the schemas above. Home Assistant
// expands them before validating; so does this check.
var (
	haAbbreviations = map[string]string{
		"avty": "availability", "avty_mode": "availability_mode", "avty_t": "availability_topic",
		"avty_tpl": "availability_template", "cmd_t": "command_topic", "cmd_tpl": "command_template",
		"cmps": "components", "dev": "device", "dev_cla": "device_class", "e": "encoding",
		"en": "enabled_by_default", "ent_cat": "entity_category", "ent_pic": "entity_picture",
		"exp_aft": "expire_after", "frc_upd": "force_update", "ic": "icon",
		"json_attr_t": "json_attributes_topic", "json_attr_tpl": "json_attributes_template",
		"lrst_val_tpl": "last_reset_value_template", "o": "origin", "off_dly": "off_delay",
		"ops": "options", "opt": "optimistic", "p": "platform", "pl_avail": "payload_available",
		"pl_not_avail": "payload_not_available", "pl_off": "payload_off", "pl_on": "payload_on",
		"pl_prs": "payload_press", "ptrn": "pattern", "ret": "retain", "stat_cla": "state_class",
		"stat_off": "state_off", "stat_on": "state_on", "stat_t": "state_topic",
		"sug_dsp_prc": "suggested_display_precision", "t": "topic", "uniq_id": "unique_id",
		"evt_typ": "event_types", "img_t": "image_topic", "cont_type": "content_type",
		"unit_of_meas": "unit_of_measurement", "val_tpl": "value_template",
	}
	haDeviceAbbreviations = map[string]string{
		"cu": "configuration_url", "cns": "connections", "ids": "identifiers", "mf": "manufacturer",
		"mdl": "model", "mdl_id": "model_id", "hw": "hw_version", "sw": "sw_version",
		"sa": "suggested_area", "sn": "serial_number",
	}
	haOriginAbbreviations = map[string]string{"sw": "sw_version", "url": "support_url"}
)

// expand renames abbreviated keys; a key given both ways is an error.
func expandAbbreviations(m map[string]any, abbr map[string]string, where string, errs *[]string) {
	for short, long := range abbr {
		v, ok := m[short]
		if !ok {
			continue
		}
		if _, dup := m[long]; dup {
			*errs = append(*errs, fmt.Sprintf("%s: both %q and its abbreviation %q", where, long, short))
		}
		delete(m, short)
		m[long] = v
	}
}

var (
	discoveryTopicRe = regexp.MustCompile(`^(?s:.+)/device/([a-zA-Z0-9_-]+)/config$`)
	componentIDRe    = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	iconRe           = regexp.MustCompile(`^[a-z0-9-]+:[a-z0-9-]+$`)
	entityIDPartRe   = regexp.MustCompile(`^[a-z0-9]+(_[a-z0-9]+)*$`)
)

// validateDeviceDiscovery checks one device discovery message and returns every problem.
func validateDeviceDiscovery(topic string, payload []byte) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if !discoveryTopicRe.MatchString(topic) {
		bad("topic %q is not <prefix>/device/<[a-zA-Z0-9_-]+>/config", topic)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return append(errs, "payload is not a JSON object: "+err.Error())
	}
	expandAbbreviations(root, haAbbreviations, "root", &errs)
	checkKeys(root, rootKeys, "root", &errs)
	if _, a1 := root["availability"]; a1 {
		if _, a2 := root["availability_topic"]; a2 {
			errs = append(errs, "root: availability and availability_topic must not be used together")
		}
	}

	if dev, ok := root["device"].(map[string]any); ok {
		expandAbbreviations(dev, haDeviceAbbreviations, "device", &errs)
		checkKeys(dev, deviceKeys, "device", &errs)
		checkDevice(dev, &errs)
	} else if root["device"] != nil {
		bad("device: not a mapping")
	}
	if o, ok := root["origin"].(map[string]any); ok {
		expandAbbreviations(o, haOriginAbbreviations, "origin", &errs)
		checkKeys(o, originKeys, "origin", &errs)
		if u, ok := o["support_url"].(string); ok {
			checkURL(u, "origin.support_url", &errs)
		}
	} else if root["origin"] != nil {
		bad("origin: not a mapping")
	}

	cmps, ok := root["components"].(map[string]any)
	if !ok {
		if root["components"] != nil {
			bad("components: not a mapping")
		}
		return errs
	}
	if len(cmps) == 0 {
		bad("components: empty")
	}
	uniqueIDs := map[string]string{}
	entityIDs := map[string]string{}
	ids := make([]string, 0, len(cmps))
	for id := range cmps {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		where := "components." + id
		if !componentIDRe.MatchString(id) {
			bad("%s: component ID must be [a-zA-Z0-9_-]+", where)
		}
		c, ok := cmps[id].(map[string]any)
		if !ok {
			bad("%s: not a mapping", where)
			continue
		}
		expandAbbreviations(c, haAbbreviations, where, &errs)
		if av, ok := c["availability"].([]any); ok {
			for _, a := range av {
				if am, ok := a.(map[string]any); ok {
					expandAbbreviations(am, haAbbreviations, where+".availability", &errs)
				}
			}
		}
		platform, _ := c["platform"].(string)
		schema, known := platformSchemas[platform]
		if !known {
			bad("%s: platform %q is not one of switch, sensor, binary_sensor, button, text, event, image", where, c["platform"])
			continue
		}
		if len(c) == 1 {
			// Platform only: the tombstone that removes a component (2024.11 device discovery).
			continue
		}
		checkKeys(c, schema, where, &errs)
		if u, _ := c["unique_id"].(string); u != "" {
			if other, dup := uniqueIDs[u]; dup {
				bad("%s: unique_id %q also used by %s", where, u, other)
			}
			uniqueIDs[u] = where
		}
		if e, _ := c["default_entity_id"].(string); e != "" {
			if dom, _, _ := strings.Cut(e, "."); dom != platform {
				bad("%s: default_entity_id %q is not in the %s domain", where, e, platform)
			}
			if other, dup := entityIDs[e]; dup {
				bad("%s: default_entity_id %q also used by %s", where, e, other)
			}
			entityIDs[e] = where
		}
		_, a1 := c["availability"]
		_, a2 := c["availability_topic"]
		if a1 && a2 {
			bad("%s: availability and availability_topic must not be used together", where)
		}
		switch platform {
		case "sensor":
			checkSensor(c, where, &errs)
		case "binary_sensor":
			if cat, ok := c["entity_category"]; ok && cat != "diagnostic" {
				bad("%s: a sensor's entity_category must be diagnostic, not %v", where, cat)
			}
		case "text":
			checkText(c, where, &errs)
		case "image":
			_, img := c["image_topic"]
			_, url := c["url_topic"]
			if img == url {
				bad("%s: exactly one of image_topic and url_topic is required", where)
			}
		}
	}
	return errs
}

// checkKeys reports unknown keys, missing required keys and values of the wrong type or
// outside the allowed set.
func checkKeys(m map[string]any, schema map[string]keySpec, where string, errs *[]string) {
	bad := func(format string, args ...any) { *errs = append(*errs, fmt.Sprintf(format, args...)) }
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		spec, ok := schema[k]
		if !ok {
			bad("%s: unknown key %q", where, k)
			continue
		}
		v := m[k]
		at := where + "." + k
		switch spec.kind {
		case kString, kTemplate, kTopic, kIcon, kEntity:
			s, ok := v.(string)
			if !ok {
				if !(k == "name" || k == "device_class" || k == "unit_of_measurement") || v != nil { // these may be null
					bad("%s: want a string, got %T", at, v)
				}
				continue
			}
			if !utf8.ValidString(s) {
				bad("%s: invalid UTF-8", at)
			}
			if spec.enum != nil && !slices.Contains(spec.enum, s) {
				bad("%s: %q is not one of %v", at, s, spec.enum)
			}
			switch spec.kind {
			case kTemplate:
				checkTemplate(s, at, errs)
			case kTopic:
				if s == "" || strings.ContainsAny(s, "+#\x00") {
					bad("%s: %q is not a topic (empty, wildcard or NUL)", at, s)
				}
			case kIcon:
				if !iconRe.MatchString(s) {
					bad("%s: %q is not an icon like mdi:video", at, s)
				}
			case kEntity:
				dom, obj, ok := strings.Cut(s, ".")
				if !ok || !entityIDPartRe.MatchString(dom) || !entityIDPartRe.MatchString(obj) {
					bad("%s: %q is not an entity ID (domain.object_id of [a-z0-9_])", at, s)
				}
			}
		case kBool:
			if _, ok := v.(bool); !ok {
				bad("%s: want a boolean, got %T %v", at, v, v)
			}
		case kInt:
			n, ok := v.(json.Number)
			if _, err := n.Int64(); !ok || err != nil {
				bad("%s: want an integer, got %T %v", at, v, v)
				continue
			}
			if i, _ := n.Int64(); k == "qos" && (i < 0 || i > 2) || i < 0 {
				bad("%s: %d out of range", at, i)
			}
		case kList:
			l, ok := v.([]any)
			if !ok || len(l) == 0 {
				bad("%s: want a non-empty list", at)
				continue
			}
			for _, e := range l {
				if _, ok := e.(string); !ok {
					bad("%s: list item %v is not a string", at, e)
				}
			}
		case kAvail:
			l, ok := v.([]any)
			if !ok || len(l) == 0 {
				bad("%s: want a non-empty list of {topic, …}", at)
				continue
			}
			for i, e := range l {
				a, ok := e.(map[string]any)
				if !ok {
					bad("%s[%d]: not a mapping", at, i)
					continue
				}
				checkKeys(a, availabilityKeys, fmt.Sprintf("%s[%d]", at, i), errs)
			}
		}
	}
	for k, spec := range schema {
		if _, ok := m[k]; spec.required && !ok {
			bad("%s: required key %q missing", where, k)
		}
	}
}

func checkDevice(dev map[string]any, errs *[]string) {
	bad := func(format string, args ...any) { *errs = append(*errs, fmt.Sprintf(format, args...)) }
	ids := 0
	switch v := dev["identifiers"].(type) {
	case nil:
	case string:
		ids = 1
	case []any:
		for _, e := range v {
			if s, ok := e.(string); !ok || s == "" {
				bad("device.identifiers: %v is not a non-empty string", e)
			}
		}
		ids = len(v)
	default:
		bad("device.identifiers: want a string or a list, got %T", v)
	}
	if c, ok := dev["connections"]; ok {
		l, ok := c.([]any)
		if !ok {
			bad("device.connections: want a list of [type, id] pairs")
		}
		for _, p := range l {
			if pair, ok := p.([]any); !ok || len(pair) != 2 {
				bad("device.connections: %v is not a [type, id] pair", p)
			}
		}
		ids += len(l)
	}
	if ids == 0 {
		bad("device: at least one of identifiers or connections is required")
	}
	if u, ok := dev["configuration_url"].(string); ok {
		checkURL(u, "device.configuration_url", errs)
	}
}

// checkURL: "Can be either an http://, https:// or an internal homeassistant:// URL."
func checkURL(s, at string, errs *[]string) {
	u, err := url.Parse(s)
	if err != nil || !(u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "homeassistant") || u.Host == "" && u.Scheme != "homeassistant" {
		*errs = append(*errs, fmt.Sprintf("%s: %q is not an http://, https:// or homeassistant:// URL", at, s))
	}
}

// checkTemplate catches the template mistakes that need no Jinja engine: unbalanced
// delimiters and empty expressions (rendering is tested with real Jinja elsewhere).
func checkTemplate(s, at string, errs *[]string) {
	depth := 0
	for i := 0; i < len(s)-1; i++ {
		switch s[i : i+2] {
		case "{{", "{%":
			depth++
			i++
		case "}}", "%}":
			depth--
			i++
			if depth < 0 {
				*errs = append(*errs, fmt.Sprintf("%s: %q closes a block it never opened", at, s))
				return
			}
		}
	}
	if depth != 0 || !strings.Contains(s, "{{") && !strings.Contains(s, "{%") {
		*errs = append(*errs, fmt.Sprintf("%s: %q is not a balanced Jinja template", at, s))
	}
	if strings.Contains(strings.ReplaceAll(s, " ", ""), "{{}}") {
		*errs = append(*errs, fmt.Sprintf("%s: %q has an empty expression", at, s))
	}
}

// checkSensor applies the sensor page's rules between keys.
func checkSensor(c map[string]any, where string, errs *[]string) {
	bad := func(format string, args ...any) { *errs = append(*errs, fmt.Sprintf(format, args...)) }
	class, _ := c["device_class"].(string)
	unit, hasUnit := c["unit_of_measurement"].(string)
	state, hasState := c["state_class"].(string)
	_, hasOptions := c["options"]
	if cat, ok := c["entity_category"]; ok && cat != "diagnostic" {
		bad("%s: a sensor's entity_category must be diagnostic, not %v", where, cat)
	}
	if hasOptions && class != "enum" {
		bad("%s: options need device_class enum", where)
	}
	if class == "enum" && !hasOptions {
		bad("%s: device_class enum needs options", where)
	}
	if hasOptions && (hasUnit || hasState) {
		bad("%s: options cannot be used together with state_class or unit_of_measurement", where)
	}
	if _, ok := c["last_reset_value_template"]; ok && state != "total" {
		bad("%s: last_reset_value_template needs state_class total", where)
	}
	if class == "" {
		return
	}
	units, known := sensorUnits[class]
	if !known {
		bad("%s: device_class %q: its units are not in this check's table yet", where, class)
		return
	}
	if hasUnit && !slices.Contains(units, unit) {
		bad("%s: unit %q is not valid with device_class %s (want one of %v)", where, unit, class, units)
	}
	if !hasUnit && len(units) > 0 {
		bad("%s: device_class %s needs a unit_of_measurement", where, class)
	}
	if hasState && !slices.Contains(sensorStateClasses[class], state) {
		bad("%s: state_class %q is not valid with device_class %s (want one of %v)", where, state, class, sensorStateClasses[class])
	}
}

func checkText(c map[string]any, where string, errs *[]string) {
	num := func(k string, def int64) int64 {
		if n, ok := c[k].(json.Number); ok {
			i, _ := n.Int64()
			return i
		}
		return def
	}
	lo, hi := num("min", 0), num("max", 255)
	if hi > 255 {
		*errs = append(*errs, fmt.Sprintf("%s: max %d: a text entity takes at most 255", where, hi))
	}
	if lo > hi {
		*errs = append(*errs, fmt.Sprintf("%s: min %d above max %d", where, lo, hi))
	}
}
