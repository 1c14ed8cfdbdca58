// Validates Kubernetes manifests offline against the Kubernetes API schemas
// of npm's kubernetes-models (the OpenAPI schemas of Kubernetes 1.3x compiled
// to validators), then checks what the schemas cannot see but the API server
// or the cluster would refuse or break on: references between the objects.
//
//   node validate_manifests.js PATH...    (files, or directories walked for
//                                          *.yaml / *.yml)
//
// Prints one line per problem and exits 1 if there is any, 0 otherwise.
//
// Unknown fields: the OpenAPI schemas allow properties they do not define,
// and the compiled validators say nothing of them, but the API server refuses
// them (strict field validation, kubectl's default since 1.27). The validator
// reads each property of an object its schema defines, and iterates the keys
// of free-form maps (labels, annotations, resources); so each object is
// validated through a Proxy that records both, and any key of an object that
// was neither read nor iterated is an unknown field.
"use strict";
const fs = require("fs");
const path = require("path");
const YAML = require("yaml");

const problems = [];
const report = (where, message) => problems.push(`${where}: ${message}`);

function manifestFiles(p) {
  if (fs.statSync(p).isDirectory()) {
    return fs
      .readdirSync(p)
      .sort()
      .flatMap((name) => manifestFiles(path.join(p, name)));
  }
  return /\.ya?ml$/.test(p) ? [p] : [];
}

// "apps/v1" + "StatefulSet" -> IoK8sApiAppsV1StatefulSet (core: "v1" -> Core).
function schemaFor(apiVersion, kind) {
  const parts = String(apiVersion).split("/");
  const group = parts.length === 2 ? parts[0].split(".")[0] : "core";
  const version = parts[parts.length - 1];
  const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);
  const name = `IoK8sApi${cap(group)}${cap(version)}${kind}`;
  const root = path.dirname(require.resolve("kubernetes-models"));
  const file = path.join(root, "_schemas", `${name}.js`);
  return fs.existsSync(file) ? require(file).validate : null;
}

// The compiled validators carry no messages: one from the keyword.
function describe(e) {
  switch (e.keyword) {
    case "required":
      return `missing required field "${e.params.missingProperty}"`;
    case "type":
      return `must be ${e.params.type}`;
    case "enum":
      return `must be one of ${JSON.stringify(e.params.allowedValues)}`;
    default:
      return `${e.keyword} ${JSON.stringify(e.params)}`;
  }
}

function validateSchema(where, doc) {
  const validate = schemaFor(doc.apiVersion, doc.kind);
  if (!validate) {
    report(where, `no Kubernetes API schema for apiVersion ${doc.apiVersion} kind ${doc.kind}`);
    return;
  }
  const read = new Set();
  const maps = new Set();
  const watch = (value, at) => {
    if (value === null || typeof value !== "object") return value;
    return new Proxy(value, {
      get(target, key) {
        if (typeof key !== "string") return target[key];
        read.add(`${at}/${key}`);
        return watch(target[key], `${at}/${key}`);
      },
      ownKeys(target) {
        maps.add(at);
        return Reflect.ownKeys(target);
      },
    });
  };
  if (!validate(watch(doc, ""))) {
    for (const e of validate.errors) report(where, `${e.instancePath || "/"}: ${describe(e)}`);
  }
  const walk = (value, at) => {
    if (value === null || typeof value !== "object") return;
    if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, `${at}/${i}`));
      return;
    }
    for (const key of Object.keys(value)) {
      if (!maps.has(at) && !read.has(`${at}/${key}`)) {
        report(where, `${at}/${key}: unknown field "${key}"`);
      }
      walk(value[key], `${at}/${key}`);
    }
  };
  walk(doc, "");
}

// The pod template of a workload, or null.
function podTemplate(doc) {
  if (["Deployment", "StatefulSet", "Job", "DaemonSet", "ReplicaSet"].includes(doc.kind)) {
    return doc.spec && doc.spec.template;
  }
  return null;
}

const matches = (selector, labels) =>
  Object.entries(selector || {}).every(([k, v]) => (labels || {})[k] === v);

function checkReferences(docs) {
  const named = (kind) => docs.filter((d) => d.doc.kind === kind);
  const byName = (kind, name) => named(kind).find((d) => d.doc.metadata.name === name);
  const workloads = docs.filter((d) => podTemplate(d.doc));

  for (const { where, doc } of workloads) {
    const template = podTemplate(doc);
    const labels = (template.metadata && template.metadata.labels) || {};
    const selector = doc.spec.selector && doc.spec.selector.matchLabels;
    if (doc.kind !== "Job" && !matches(selector, labels)) {
      report(where, `spec.selector ${JSON.stringify(selector)} does not select the template's labels`);
    }
    const pod = template.spec;
    const volumes = new Set((pod.volumes || []).map((v) => v.name));
    for (const t of (doc.kind === "StatefulSet" && doc.spec.volumeClaimTemplates) || []) {
      volumes.add(t.metadata.name);
    }
    for (const v of pod.volumes || []) {
      const claim = v.persistentVolumeClaim && v.persistentVolumeClaim.claimName;
      if (claim && !byName("PersistentVolumeClaim", claim)) {
        report(where, `volume ${v.name}: no PersistentVolumeClaim named ${claim}`);
      }
    }
    for (const c of [...(pod.initContainers || []), ...(pod.containers || [])]) {
      const ports = new Map((c.ports || []).map((p) => [p.name, p.containerPort]));
      const numbers = new Set(ports.values());
      for (const m of c.volumeMounts || []) {
        if (!volumes.has(m.name)) report(where, `container ${c.name}: no volume named ${m.name}`);
      }
      for (const e of c.env || []) {
        const ref = e.valueFrom && e.valueFrom.configMapKeyRef;
        if (!ref || ref.optional) continue;
        const map = byName("ConfigMap", ref.name);
        if (!map || !(ref.key in (map.doc.data || {}))) {
          report(where, `container ${c.name}: env ${e.name} needs ConfigMap ${ref.name} key ${ref.key}`);
        }
      }
      for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        const p = c[probe];
        const port = p && (p.grpc || p.httpGet || p.tcpSocket) && (p.grpc || p.httpGet || p.tcpSocket).port;
        if (port === undefined) continue;
        if (typeof port === "string" ? !ports.has(port) : !numbers.has(port)) {
          report(where, `container ${c.name}: ${probe} port ${port} is not one of its ports`);
        }
      }
    }
    if (doc.kind === "StatefulSet") {
      const service = byName("Service", doc.spec.serviceName);
      if (!service || service.doc.spec.clusterIP !== "None") {
        report(where, `spec.serviceName ${doc.spec.serviceName} is not a headless Service here`);
      }
    }
  }

  for (const { where, doc } of [...named("Service"), ...named("PodDisruptionBudget")]) {
    const selector = doc.kind === "Service" ? doc.spec.selector : doc.spec.selector.matchLabels;
    const selected = workloads.filter((w) => matches(selector, podTemplate(w.doc).metadata.labels));
    if (!selector || selected.length === 0) {
      report(where, `selector ${JSON.stringify(selector)} selects no pods of these manifests`);
      continue;
    }
    for (const port of doc.kind === "Service" ? doc.spec.ports : []) {
      if (typeof port.targetPort !== "string") continue;
      const declared = selected.some((w) =>
        podTemplate(w.doc).spec.containers.some((c) => (c.ports || []).some((p) => p.name === port.targetPort)));
      if (!declared) report(where, `port ${port.name}: no selected container has a port named ${port.targetPort}`);
    }
  }

  // scry's own: the index Job builds every shard of the ConfigMap, and the
  // shard servers are whole copies of every group (deploy/k8s/scry-k8s.sh).
  const cluster = byName("ConfigMap", "scry-cluster");
  if (cluster) {
    const shards = Number(cluster.doc.data.shards);
    const groups = Number(cluster.doc.data.groups);
    if (!(groups >= 1 && groups <= shards)) {
      report(cluster.where, `groups ${groups} must be 1..shards (${shards})`);
    }
    for (const { where, doc } of named("Job")) {
      if (doc.spec.completionMode !== "Indexed" || doc.spec.completions !== shards) {
        report(where, `an index Job must be Indexed with completions = shards (${shards})`);
      }
    }
    for (const { where, doc } of named("StatefulSet")) {
      if (doc.spec.replicas % groups !== 0) {
        report(where, `replicas ${doc.spec.replicas} is not a multiple of groups (${groups})`);
      }
    }
  }
}

function main(args) {
  if (args.length === 0) {
    console.error("usage: node validate_manifests.js PATH...");
    return 2;
  }
  const docs = [];
  const files = args.flatMap(manifestFiles);
  if (files.length === 0) report(args.join(" "), "no *.yaml or *.yml file");
  for (const file of files) {
    YAML.parseAllDocuments(fs.readFileSync(file, "utf8"), { uniqueKeys: true }).forEach((d, i) => {
      const where = `${file} (document ${i + 1})`;
      for (const e of [...d.errors, ...d.warnings]) report(where, `YAML: ${e.message}`);
      if (d.errors.length > 0) return;
      const doc = d.toJS({ maxAliasCount: 100 });
      if (doc === null) return;  // an empty document
      if (typeof doc !== "object" || !doc.apiVersion || !doc.kind) {
        report(where, "not a Kubernetes object (apiVersion and kind)");
        return;
      }
      validateSchema(where, doc);
      docs.push({ where, doc });
    });
  }
  // References are checked between valid objects only.
  if (problems.length === 0) checkReferences(docs);
  for (const p of problems) console.log(p);
  console.log(`${files.length} files, ${docs.length} objects: ${problems.length === 0 ? "valid" : `${problems.length} problems`}`);
  return problems.length === 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
