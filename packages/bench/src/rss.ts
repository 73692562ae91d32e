/** Child process of the bench: one contender alone, 2 s of SELECT 1, then its peak RSS. */
import type { TestCluster } from "@pgfleet/testing"
import * as Contenders from "./contenders.js"

const index = Number(process.argv[2])
const cluster = JSON.parse(process.env.BENCH_CLUSTER!) as TestCluster.TestClusterPromise
const contender = await Contenders.twoReplicas[index]!(cluster, cluster.readers)
await contender.load("select1", 32, 2000)
await contender.close()
console.log(JSON.stringify({ name: contender.name, maxRssMiB: process.resourceUsage().maxRSS / 1024 }))
