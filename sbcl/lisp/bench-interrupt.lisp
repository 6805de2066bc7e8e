;;;; Interrupts, µs per interrupt:
;;;;   interrupt-burst-busy      BURST interrupts sent back to back to a
;;;;                             thread spinning in Lisp; a sample is the time
;;;;                             from the first send until the target has run
;;;;                             all of them, divided by BURST
;;;;   interrupt-burst-sleeping  the same to a thread in SLEEP
;;;;   interrupt-ping-pong       the main thread interrupts a sleeping
;;;;                             thread, whose interrupt function interrupts
;;;;                             the main thread back (which polls a flag until
;;;;                             it ran): µs per round trip (two interrupts)
;;;; The sender waits by polling with sched_yield between polls (a pure spin
;;;; can hold the CPU the target needs, on a loaded 2-core machine).
;;;; Settings: bursts=N (default 40), burst=N (default 50), pings=N (default 1000).
;;;; An interrupt that never runs (lost) would hang a burst: a burst waits
;;;; at most 10 s, then the run reports how many were lost and goes on.

(in-package "CL-USER")

(load (merge-pathnames "bench-common.lisp" *load-truename*))

(defvar *bursts* (bench-arg :bursts 40))
(defvar *burst* (bench-arg :burst 50))
(defvar *pings* (bench-arg :pings 1000))

(defvar *received* (make-counter) "Interrupt functions run (COUNTER-BUMP: they nest).")
(defvar *stop-target* nil)
(defvar *lost* 0)

(defun target (kind)
  (sb-thread:make-thread
   (ecase kind
     (:busy (lambda () (let ((n 0)) (declare (fixnum n))
                         (loop until *stop-target* do (setf n (logand (1+ n) #xffff))))))
     (:sleeping (lambda () (loop until *stop-target* do (sleep 0.05)))))))

(defun bump () (counter-bump *received*))

(defun burst (thread)
  "µs per interrupt of one burst."
  (let* ((start (counter-n *received*))
         (goal (+ start *burst*))
         (t0 (now-us))
         (deadline (+ t0 10000000)))
    (dotimes (i *burst*) (sb-thread:interrupt-thread thread #'bump))
    (loop until (or (>= (counter-n *received*) goal) (> (now-us) deadline))
          do (sched-yield))
    (when (< (counter-n *received*) goal)
      (incf *lost* (- goal (counter-n *received*)))
      (setf (counter-n *received*) goal))
    (/ (- (now-us) t0) *burst*)))

(defun burst-case (kind)
  (setf *stop-target* nil *lost* 0)
  (let ((thread (target kind)))
    (sleep 0.05)
    (burst thread)
    (let ((samples (loop repeat *bursts* collect (prog1 (burst thread) (sleep 0.002)))))
      (setf *stop-target* t)
      (wait-until-dead thread)
      (emit-samples (format nil "interrupt-burst-~(~A~)" kind) samples "us/interrupt"
                    :lost *lost*))))

(defvar *pong* nil)

(defun ping-pong-case ()
  (setf *stop-target* nil)
  (let* ((main sb-thread::*current-thread*)
         (pong (lambda () (setf *pong* t)))
         (ping (lambda () (sb-thread:interrupt-thread main pong)))
         (thread (target :sleeping))
         (lost 0))
    (sleep 0.05)
    (flet ((one ()
             (setf *pong* nil)
             (let* ((t0 (now-us)) (deadline (+ t0 10000000)))
               (sb-thread:interrupt-thread thread ping)
               (loop until (or *pong* (> (now-us) deadline))
                     do (sched-yield))
               (unless *pong* (incf lost))
               (- (now-us) t0))))
      (dotimes (i 20) (one))
      ;; batches of 20 round trips: a sample is the batch's mean
      (let ((samples (loop repeat (max 1 (floor *pings* 20))
                           collect (/ (loop repeat 20 sum (one)) 20))))
        (setf *stop-target* t)
        (wait-until-dead thread)
        (emit-samples "interrupt-ping-pong" samples "us/round-trip" :lost lost)))))

(sb-ext:gc :full t)
(burst-case :busy)
(burst-case :sleeping)
(ping-pong-case)
(bench-done)
