//! What the other nodes tell this one, over the bus's node signals (see
//! `bus::NodeSignal`); with the in-process bus nothing arrives.

/// Takes in what the other nodes tell: counts the sign-ins and web chat
/// requests they saw, and forgets cached copies of what they changed.
/// (Chat presence has its own listener, `widget::presence`.)
pub async fn listen(state: crate::app::AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    use crate::bus::NodeSignal;
    let mut signals = state.bus.node_signals();
    loop {
        let signal = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            signal = signals.recv() => match signal {
                Ok(signal) => Some(signal),
                // Some words were missed: a change among them may not be known.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => None,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        };
        let Some(signal) = signal else {
            state.forget_cached();
            state.knowledge.changed_elsewhere().await;
            continue;
        };
        if signal.node() == state.bus.node() {
            continue;
        }
        match signal {
            NodeSignal::SignIn { login, address, outcome, .. } => state.sign_in.heard(&login, address, outcome),
            NodeSignal::ChatRequest { address, inbox_id, .. } => {
                let _ = state.chat_limiter.check((address, inbox_id));
            }
            NodeSignal::CachesChanged { .. } => state.forget_cached(),
            NodeSignal::KnowledgeChanged { .. } => state.knowledge.changed_elsewhere().await,
            _ => {}
        }
    }
}
