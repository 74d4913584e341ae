// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
//
// node validate.js MODULES_DIR FILE.yaml...: validate Kubernetes manifests
// against the Kubernetes API schema, the way the API server would take them.
//
// Two checks per document, both from the npm package kubernetes-models
// (generated from Kubernetes' OpenAPI definitions; version pinned in
// package-lock.json, installed in MODULES_DIR by tools/install-deps --test):
//   schema  the model's validate(): types, required fields, enums and formats
//           (quantities like "50m", "64Mi"; hostPath types; ...);
//   fields  no field the API does not know (the API server's strict field
//           validation, kubectl --validate=strict): the document, as a
//           TypeScript object literal typed with the package's interface,
//           must compile (excess properties are compile errors).
// YAML is read as YAML 1.1, as Kubernetes reads it (0600 is octal).
// Prints one line per problem, "FILE: KIND/NAME: message"; exits 1 if any.
"use strict";
const fs = require("fs");
const path = require("path");

const modules = path.resolve(process.argv[2]);
const files = process.argv.slice(3);
const need = (name) => require(path.join(modules, "node_modules", name));
const YAML = need("yaml");
const ts = need("typescript");

// "apps/v1" + "DaemonSet" -> kubernetes-models/apps/v1/DaemonSet
const modelPath = (doc) => `kubernetes-models/${doc.apiVersion}/${doc.kind}`;

const problems = [];
const docs = [];
for (const file of files) {
	const parsed = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"), { version: "1.1" });
	for (const d of parsed) {
		if (d.errors.length) {
			problems.push(`${file}: YAML: ${d.errors[0].message}`);
			continue;
		}
		const obj = d.toJS();
		if (obj === null || obj === undefined)
			continue;
		const name = `${obj.kind}/${(obj.metadata || {}).name}`;
		if (typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") {
			problems.push(`${file}: ${name}: no apiVersion or kind`);
			continue;
		}
		let Model;
		try {
			Model = need(modelPath(obj))[obj.kind];
		} catch (e) {
			problems.push(`${file}: ${name}: unknown apiVersion/kind ${obj.apiVersion} ${obj.kind}`);
			continue;
		}
		try {
			new Model(obj).validate();
		} catch (e) {
			for (const err of e.errors || [{ instancePath: "", message: e.message }])
				problems.push(`${file}: ${name}: schema: ${err.instancePath || "/"} ${err.message}`);
		}
		docs.push({ file, name, obj });
	}
}

// One virtual TypeScript file: a typed constant per document. It "lives" in
// MODULES_DIR so that the imports resolve to the installed package.
const source = docs.map((d, i) => {
	const iface = `I${d.obj.kind}`;
	return `import type { ${iface} as T${i} } from "${modelPath(d.obj)}";\n` +
		`export const doc${i}: T${i} = ${JSON.stringify(d.obj, null, 1)};\n`;
}).join("");
const virtual = path.join(modules, "memshed-manifests.ts");
const options = { strict: true, noEmit: true, skipLibCheck: true, types: [],
	moduleResolution: ts.ModuleResolutionKind.Node10, module: ts.ModuleKind.CommonJS,
	target: ts.ScriptTarget.ES2020 };
const host = ts.createCompilerHost(options);
const getSourceFile = host.getSourceFile;
host.getSourceFile = (name, lang, ...rest) => name === virtual
	? ts.createSourceFile(name, source, lang)
	: getSourceFile.call(host, name, lang, ...rest);
const fileExists = host.fileExists;
host.fileExists = (name) => name === virtual || fileExists.call(host, name);
if (docs.length) {
	const program = ts.createProgram([virtual], options, host);
	// Which document a line of the virtual file belongs to.
	const starts = [];
	let line = 0;
	docs.forEach((d, i) => {
		starts.push(line);
		line += `import x\nexport const doc${i} = ${JSON.stringify(d.obj, null, 1)};\n`.split("\n").length - 1;
	});
	for (const diag of ts.getPreEmitDiagnostics(program)) {
		let where = "";
		if (diag.file && diag.file.fileName === virtual && diag.start !== undefined) {
			const l = diag.file.getLineAndCharacterOfPosition(diag.start).line;
			let i = 0;
			while (i + 1 < starts.length && starts[i + 1] <= l)
				i++;
			where = `${docs[i].file}: ${docs[i].name}: fields: `;
		}
		problems.push(where + ts.flattenDiagnosticMessageText(diag.messageText, " "));
	}
}

for (const p of problems)
	console.log(p);
if (!problems.length)
	console.log(`ok: ${docs.map((d) => d.name).join(", ")}`);
process.exit(problems.length ? 1 : 0);
