package agent

// IdleConn is how long the agent keeps an unused connection, for the
// connection-count tests of package agent_test.
const IdleConn = agentIdleConn
