import { spawn } from "node:child_process"
import type { ServerUser } from "./osUser.js"

/** Runs a server binary as `user`, resolving with its output or rejecting with it. */
export const run = (
  file: string,
  args: ReadonlyArray<string>,
  user: ServerUser | undefined
): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      ...(user ?? {}),
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C", TZ: "UTC" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.on("data", (chunk) => (output += chunk))
    child.stderr.on("data", (chunk) => (output += chunk))
    child.once("error", reject)
    child.once("close", (code) => {
      if (code === 0) resolve(output)
      else reject(new Error(`${file.split("/").pop()} ${args[0] ?? ""} exited with ${code}: ${output.trim()}`))
    })
  })
