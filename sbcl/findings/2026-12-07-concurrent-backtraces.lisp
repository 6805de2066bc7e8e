;;;; Probe (not part of the tests): 0.9.4.1 hangs or dies when two threads
;;;; print backtraces at once, with upstream's thread code alone too
;;;; (RELIABILITY.md). Run: python3 sbcl/run_lisp.py --tree build/sbcl/upstream
;;;; --timeout 30 sbcl/findings/2026-12-07-concurrent-backtraces.lisp 10
;;; Two threads print backtraces at once, in a loop, with *current-thread*
;;; bound to NIL as MAKE-THREAD does around %create-thread; a collector
;;; runs (gc) now and then. Exit 104 after N seconds; a hang is the finding.
(defvar *seconds* (let ((a (sb-ext:posix-getenv "SBCL_TEST_ARGS"))) (or (and a (parse-integer a :junk-allowed t)) 10)))
(defvar *stop* nil)
(defun bt-loop ()
  (lambda ()
    (let ((sb-thread:*current-thread* nil))
      (loop until *stop*
            do (let ((s (make-string-output-stream)))
                 (sb-debug:backtrace 30 s))))))
(let* ((threads (loop repeat 2 collect (sb-thread:make-thread (bt-loop))))
       (deadline (+ (get-internal-real-time) (* *seconds* internal-time-units-per-second))))
  (loop while (< (get-internal-real-time) deadline)
        do (sleep 0.01) (when (zerop (random 10)) (sb-ext:gc)))
  (setf *stop* t)
  (dolist (th threads) (loop while (sb-thread:thread-alive-p th) do (sleep 0.01)))
  (format t "~&bt2: done~%")
  (sb-ext:quit :unix-status 104))
