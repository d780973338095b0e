// Uploads one file with the stock tus-js-client (from npm, package.json) and its default options:
// chunkSize Infinity, so the whole file goes in one PATCH, streamed from the file.
//
//   node tests/support/tus_js_upload.mjs ENDPOINT TOKEN FILE
//
// Prints one JSON line: {"url": ..., "bytesSent": ...}; exits 1 with {"error": ...} on failure.
import fs from 'node:fs'
import path from 'node:path'
import { Upload } from 'tus-js-client'

const [endpoint, token, file] = process.argv.slice(2)
if (!endpoint || !token || !file) {
  console.error('usage: tus_js_upload.mjs ENDPOINT TOKEN FILE')
  process.exit(2)
}

const upload = new Upload(fs.createReadStream(file), {
  endpoint,
  headers: { Authorization: `Bearer ${token}` },
  metadata: { filename: path.basename(file), filetype: 'video/webm' },
  onError (error) {
    console.log(JSON.stringify({ error: String(error) }))
    process.exit(1)
  },
  onSuccess () {
    console.log(JSON.stringify({ url: upload.url, bytesSent: fs.statSync(file).size }))
  },
})
upload.start()
