/* The presentation times of a video file's packets, read by FFmpeg's demuxer alone (nothing is
 * decoded). OpenCV 4.6 reports no time for the frames its decoder still holds at the end of a file
 * (B-frames), so vigil reads the container's own times here, a few packets ahead of the decoder.
 * Compiled against the FFmpeg that OpenCV uses, so no struct layout is guessed on the Rust side. */

#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <math.h>
#include <stdlib.h>

struct vigil_packet_times {
    AVFormatContext *format;
    AVPacket *packet;
    int stream;
    AVRational time_base;
    int64_t start;
};

void vigil_packet_times_close(struct vigil_packet_times *t) {
    if (!t) return;
    av_packet_free(&t->packet);
    avformat_close_input(&t->format);
    free(t);
}

/* The first video stream that is not a cover picture: the one OpenCV decodes. */
static int first_video_stream(const AVFormatContext *format) {
    for (unsigned i = 0; i < format->nb_streams; i++) {
        const AVStream *s = format->streams[i];
        if (s->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
            !(s->disposition & AV_DISPOSITION_ATTACHED_PIC))
            return (int)i;
    }
    return -1;
}

/* NULL when the file cannot be opened or has no video stream. */
struct vigil_packet_times *vigil_packet_times_open(const char *path) {
    struct vigil_packet_times *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    if (avformat_open_input(&t->format, path, NULL, NULL) < 0) {
        free(t);
        return NULL;
    }
    /* Containers with a header (MP4, Matroska, AVI) name their streams at once; probing the
     * others decodes a few frames, which costs a frame buffer pool at 4K. */
    t->stream = first_video_stream(t->format);
    if ((t->stream < 0 && (avformat_find_stream_info(t->format, NULL) < 0 ||
                           (t->stream = first_video_stream(t->format)) < 0)) ||
        !(t->packet = av_packet_alloc())) {
        vigil_packet_times_close(t);
        return NULL;
    }
    for (unsigned i = 0; i < t->format->nb_streams; i++)
        if ((int)i != t->stream) t->format->streams[i]->discard = AVDISCARD_ALL;
    const AVStream *s = t->format->streams[t->stream];
    t->time_base = s->time_base;
    /* OpenCV counts time from the stream's start, so the two clocks agree. */
    t->start = s->start_time == AV_NOPTS_VALUE ? 0 : s->start_time;
    return t;
}

/* 1: *ms is the next packet's time (NAN if it has none); 0: end of file; -1: read error. */
int vigil_packet_times_next(struct vigil_packet_times *t, double *ms) {
    for (;;) {
        int r = av_read_frame(t->format, t->packet);
        if (r == AVERROR_EOF) return 0;
        if (r < 0) return -1;
        int mine = t->packet->stream_index == t->stream;
        int64_t when = t->packet->pts != AV_NOPTS_VALUE ? t->packet->pts : t->packet->dts;
        av_packet_unref(t->packet);
        if (!mine) continue;
        *ms = when == AV_NOPTS_VALUE ? NAN
                                     : (double)(when - t->start) * av_q2d(t->time_base) * 1000.0;
        return 1;
    }
}

/* The number of frames the container declares; 0 when it declares none. */
int64_t vigil_packet_times_frame_count(const struct vigil_packet_times *t) {
    return t->format->streams[t->stream]->nb_frames;
}

/* The stream's duration in ms (the file's when the stream has none); NAN when unknown. */
double vigil_packet_times_duration_ms(const struct vigil_packet_times *t) {
    const AVStream *s = t->format->streams[t->stream];
    if (s->duration != AV_NOPTS_VALUE && s->duration > 0)
        return (double)s->duration * av_q2d(s->time_base) * 1000.0;
    if (t->format->duration != AV_NOPTS_VALUE && t->format->duration > 0)
        return (double)t->format->duration / AV_TIME_BASE * 1000.0;
    return NAN;
}
