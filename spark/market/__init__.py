"""Market data from exchanges (BTCTurk REST + WebSocket), candle building, and the feed side of live sessions."""
