package relay

import (
	"encoding/json"

	"github.com/logchat/shared/apijson"
	"github.com/logchat/shared/realtime"
)

// Publications carrying messages or summaries are encoded through the API's
// wire mirrors (shared/apijson), so their times have the API's format.

type wireMessageCreated struct {
	Type    string          `json:"type"`
	Message apijson.Message `json:"message"`
}

type wireChatAdded struct {
	Type string          `json:"type"`
	Chat apijson.Summary `json:"chat"`
}

func encodeMessageCreated(p realtime.MessageCreated) ([]byte, error) {
	return json.Marshal(wireMessageCreated{Type: p.Type, Message: apijson.FromMessage(p.Message)})
}

func encodeChatAdded(p realtime.ChatAdded) ([]byte, error) {
	return json.Marshal(wireChatAdded{Type: p.Type, Chat: apijson.FromSummary(p.Chat)})
}
