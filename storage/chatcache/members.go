package chatcache

import (
	"context"
	"strconv"
)

// MemberOf says whether userID is a member of chatID as far as the log has
// been applied. known is false when the chat's members are not cached (then
// member is meaningless). The gateway asks this only when MySQL, the
// authority on membership, does not answer: it lets sends go on during a
// MySQL outage, since the log, not MySQL, is what a send needs.
func (c *Cache) MemberOf(ctx context.Context, chatID, userID int64) (member, known bool, err error) {
	key := c.chatKey(chatID)
	pipe := c.rdb.Pipeline()
	exists := pipe.Exists(ctx, key)
	in := pipe.SIsMember(ctx, key+":mem", strconv.FormatInt(userID, 10))
	if _, err := pipe.Exec(ctx); err != nil {
		return false, false, err
	}
	if exists.Val() == 0 {
		return false, false, nil
	}
	return in.Val(), true, nil
}
