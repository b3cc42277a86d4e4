// The whole batch flow through openai-node, driven by tests/test_clients.py against a MockBatchServer on a manual
// clock: this script moves the clock itself (POST /_mockbatch/clock/advance), so every step is deterministic.
// Environment: OPENAI_BASE_URL, OPENAI_API_KEY, MOCKBATCH_URL (the server's root), INPUT_JSONL (a path),
// PART_SIZE (bytes per part of the chunked upload). Prints one JSON report on stdout.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import OpenAI, { toFile } from 'openai';

const client = new OpenAI({ maxRetries: 0 });
const TERMINAL = ['completed', 'failed', 'expired', 'cancelled'];
const input = readFileSync(process.env.INPUT_JSONL);

async function advance(seconds) {
  const res = await fetch(`${process.env.MOCKBATCH_URL}/_mockbatch/clock/advance`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${client.apiKey}` },
    body: JSON.stringify({ seconds }),
  });
  if (!res.ok) throw new Error(`clock/advance answered ${res.status}: ${await res.text()}`);
}

// custom_id -> [the file it is in, its status code or error code]
async function results(batch) {
  const found = {};
  for (const [kind, id] of [['output', batch.output_file_id], ['error', batch.error_file_id]]) {
    if (!id) continue;
    const text = await (await client.files.content(id)).text();
    for (const line of text.split('\n').filter(Boolean)) {
      const r = JSON.parse(line);
      found[r.custom_id] = [kind, r.error ? r.error.code : r.response.status_code];
    }
  }
  return found;
}

const createBatch = (fileId) =>
  client.batches.create({ input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h' });

// upload, create, poll to the end (a virtual second between polls), download output and error files
const file = await client.files.create({ file: await toFile(input, 'input.jsonl'), purpose: 'batch' });
let batch = await createBatch(file.id);
const statuses = [batch.status];
while (!TERMINAL.includes(batch.status)) {
  await advance(1);
  batch = await client.batches.retrieve(batch.id);
  statuses.push(batch.status);
}

// chunked upload: openai-node has no helper (no uploadFileChunked), so the Uploads API steps by hand
const partSize = Number(process.env.PART_SIZE);
let upload = await client.uploads.create({
  bytes: input.length, filename: 'chunked.jsonl', mime_type: 'text/jsonl', purpose: 'batch',
});
const partIds = [];
for (let at = 0; at < input.length; at += partSize) {
  const data = await toFile(input.subarray(at, at + partSize), 'part');
  partIds.push((await client.uploads.parts.create(upload.id, { data })).id);
}
upload = await client.uploads.complete(upload.id, {
  part_ids: partIds, md5: createHash('md5').update(input).digest('hex'),
});
const copy = Buffer.from(await (await client.files.content(upload.file.id)).arrayBuffer());

// a second batch, on the uploaded file, cancelled once one request has run
let second = await createBatch(upload.file.id);
await advance(1.5);
second = await client.batches.cancel(second.id);
const cancel = [second.status];
await advance(1);
second = await client.batches.retrieve(second.id);
cancel.push(second.status);

// list a batch per page, by hand and through the SDK's auto-pagination
const pages = [];
for (let page = await client.batches.list({ limit: 1 }); ; page = await page.getNextPage()) {
  pages.push(page.data.map((b) => b.id));
  if (!page.hasNextPage()) break;
}
const all = [];
for await (const b of client.batches.list({ limit: 1 })) all.push(b.id);

console.log(JSON.stringify({
  statuses,
  counts: batch.request_counts,
  results: await results(batch),
  upload: { status: upload.status, bytes: upload.file.bytes, same: copy.equals(input) },
  cancel,
  cancelled: await results(second),
  ids: [batch.id, second.id],
  pages,
  all,
}));
