export default function Home() {
  return (
    <main>
      <h1>stratacache Next.js example</h1>
      <p>
        See <a href="/dashboard">the live cache dashboard</a>, <a href="/greeting">an ISR page on stratacache/next</a>, and the API
        routes listed in README.md.
      </p>
    </main>
  )
}
